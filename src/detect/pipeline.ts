import type { DetectionSettings } from './settings.js';
import { CaptureFileSource, type FileReport } from '../capture/file-source.js';
import { FrameDecoder, type PacketHandler } from '../capture/source.js';
import { CounterTable, type CounterGroup } from '../model/counters.js';
import type { Packet } from '../model/packet.js';
import { PROBE_CLASS_NAMES, type ProbeListener } from '../model/probe.js';
import { DetectionCounterDoc } from './counters.js';
import { DetectionEngine, type IncidentListener } from './engine.js';
import { BaselineCounterDoc, BaselineTracker } from './baseline/tracker.js';
import type { BaselineSettings } from './baseline/settings.js';
import { PortThresholds } from './baseline/port-thresholds.js';
import { BehaviourWatcher, type ScoredSource } from './anomaly/behaviour.js';
import type { AnomalySettings } from './anomaly/settings.js';
import type { RobustModel } from './anomaly/model.js';
import type { Incident } from './incident.js';

/**
 * What else the pipeline is wired to: every probe for the probe rules (src/rules/; the daemon and analyze),
 * and for evaluations a model shared across pipelines (trained on one capture, scoring another) and every score.
 */
export interface WatcherOptions {
  probes?: ProbeListener | null;
  model?: RobustModel;
  onScore?: (s: ScoredSource) => void;
}

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

  /** Behavioural baselines (src/detect/baseline/), when the `baseline` section enables them. */
  readonly baseline: BaselineTracker | null;
  /** The anomaly model (src/detect/anomaly/), when the `anomaly` section enables it. */
  readonly behaviour: BehaviourWatcher | null;

  constructor(settings: DetectionSettings, listener: IncidentListener | null = null, baseline: BaselineSettings | null = null, anomaly: AnomalySettings | null = null, watcherOptions: WatcherOptions = {}) {
    let watcher: BehaviourWatcher | null = null;
    // The model skips the sources the fixed detectors reported: it hears of each incident first.
    const heard: IncidentListener | null = anomaly?.enabled === true ? (i: Incident) => (watcher?.flag(incidentSources(i)), listener?.(i)) : listener;
    // Every probe goes to the probe rules (src/rules/; wired by the daemon and analyze) when there are any.
    const engine = new DetectionEngine(settings, heard, baseline?.dynamicThresholds === true ? new PortThresholds(baseline.falsePositiveRate) : null, watcherOptions.probes ?? null);
    this.engine = engine;
    const tracker = (this.baseline = baseline?.enabled === true ? new BaselineTracker(baseline, (i) => engine.adopt(i)) : null);
    watcher = this.behaviour = anomaly?.enabled === true ? new BehaviourWatcher(anomaly, (i) => engine.adopt(i), watcherOptions.onScore ?? null, watcherOptions.model) : null;
    const w = watcher;
    if (w === null) this.onPacket = tracker === null ? (packet) => engine.process(packet) : (packet) => (engine.process(packet), tracker.observe(packet));
    else this.onPacket = tracker === null ? (packet) => (engine.process(packet), w.observe(packet)) : (packet) => (engine.process(packet), tracker.observe(packet), w.observe(packet));
    this.decoder = new FrameDecoder('decode', this.onPacket);
    const detection = new CounterTable('detect', DetectionCounterDoc, { values: engine.counters });
    const probes = new CounterTable('detect.probes', PROBE_CLASS_DOCS, { prefix: 'probes.class', values: engine.probesByClass });
    const baselines = tracker === null ? null : new CounterTable('baseline', BaselineCounterDoc, { prefix: 'baseline', values: tracker.counters });
    this.counters = {
      group: 'detect',
      forEach(visit) {
        detection.forEach(visit);
        probes.forEach(visit);
        baselines?.forEach(visit);
      },
    };
  }

  /** Moves packet time on without a packet (the daemon's wall clock on a quiet host): see DetectionEngine.advance. */
  advance(nowMs: number): void {
    this.engine.advance(nowMs);
    this.baseline?.advance(nowMs);
    this.behaviour?.advance(nowMs);
  }

  /** End of input (analyze): the engine judges what waits; the anomaly model scores every source left. */
  flush(): void {
    this.engine.flush();
    this.behaviour?.flush(this.engine.clockMs);
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
  pipeline.flush();
  return reports;
}

/** The sources an incident names (the one source, or every member). */
function incidentSources(i: Incident): string[] {
  const r = i.toRecord();
  return r['source.ip'] !== undefined ? [r['source.ip']] : (r.sources ?? []);
}
