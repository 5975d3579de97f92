import type { DetectionSettings } from './settings.js';
import { CaptureFileSource, type FileReport } from '../capture/file-source.js';
import { FrameDecoder, type PacketHandler } from '../capture/source.js';
import { CounterTable, type CounterGroup } from '../model/counters.js';
import type { Packet } from '../model/packet.js';
import { PROBE_CLASS_NAMES, type ProbeListener } from '../model/probe.js';
import { DetectionCounterDoc } from './counters.js';
import { DetectionEngine, type IncidentListener } from './engine.js';

export type { FileReport } from '../capture/file-source.js';

const PROBE_CLASS_DOCS: Readonly<Record<string, string>> = Object.fromEntries(PROBE_CLASS_NAMES.map((name) => [name, `probes of class ${name} seen (repeats included)`]));

/**
 * packet source → detection, wired once. Every source detection reads (NFLOG, libpcap, capture
 * files) is given this pipeline's `decoder` and started with `onPacket`: frames are decoded once,
 * into the decoder's one reused Packet, and handed to the engine; nothing is allocated per frame
 * before detection.
 */
export class Pipeline {
  /** Detection's decode step, shared by all its sources (they count as one capture: `decode.*`). */
  readonly decoder: FrameDecoder;
  readonly engine: DetectionEngine;
  /** Bound once: what detection's packet sources are started with. */
  readonly onPacket: PacketHandler;
  /** Detection's counters for the registry: the engine's (`packets.seen` …) and probes by class (`probes.class.syn` …). */
  readonly counters: CounterGroup;

  /** `probeListener`: every probe, for the probe rules (src/rules/; wired by the daemon and analyze). */
  constructor(settings: DetectionSettings, listener: IncidentListener | null = null, probeListener: ProbeListener | null = null) {
    const engine = new DetectionEngine(settings, listener, probeListener);
    this.engine = engine;
    this.onPacket = (packet) => engine.process(packet);
    this.decoder = new FrameDecoder('decode', this.onPacket);
    const detection = new CounterTable('detect', DetectionCounterDoc, { values: engine.counters });
    const probes = new CounterTable('detect.probes', PROBE_CLASS_DOCS, { prefix: 'probes.class', values: engine.probesByClass });
    this.counters = {
      group: 'detect',
      forEach(visit) {
        detection.forEach(visit);
        probes.forEach(visit);
      },
    };
  }

  /** The reused Packet every frame is decoded into. */
  get packet(): Packet {
    return this.decoder.packet;
  }

  get decodeStats(): FrameDecoder['stats'] {
    return this.decoder.stats;
  }

  /** The decoder's frame callback: for raw frame readers (NflogSource, PcapLiveSource, tests) that are not PacketSources. */
  get onFrame(): FrameDecoder['onFrame'] {
    return this.decoder.onFrame;
  }
}

/**
 * Reads capture files in order into one pipeline, as one continuous capture (a rotated series works).
 * A file that fails part-way keeps what came before it; its error is reported and the next file read.
 */
export function analyzeFiles(
  paths: readonly string[],
  pipeline: Pipeline,
  onProgress?: (path: string, bytesRead: number, fileSize: number) => void,
): FileReport[] {
  const source = new CaptureFileSource(paths, { decoder: pipeline.decoder, onProgress });
  const reports = source.run(pipeline.onPacket);
  pipeline.engine.flush();
  return reports;
}
