/**
 * One measured run, in a process of its own so its peak RSS is its own: analyse a capture (or only
 * read it, for the I/O ceiling) and print one JSON line. `baselines` analyses with the normal profile's
 * detection plus baselines on (aggressive's `baseline` section), `dynamic` also with dynamicThresholds.
 * With RULES, the rule file's probe rules run beside detection, as the daemon and `analyze` run them.
 *   node dist/bench/analyze-child.js analyze|read|baselines|dynamic FILE [RULES.yaml]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readCaptureFileSync } from '../src/capture/capture-file.js';
import { defaultConfig } from '../src/config/load.js';
import { analyzeFiles, Pipeline } from '../src/detect/pipeline.js';
import { buildRuleEngine } from '../src/rules/index.js';

const [mode, file, rulesFile] = process.argv.slice(2);
const MODES = ['analyze', 'read', 'baselines', 'dynamic'];
if (!MODES.includes(mode) || file === undefined) {
  process.stderr.write('usage: analyze-child analyze|read|baselines|dynamic FILE [RULES.yaml]\n');
  process.exit(2);
}

let frames = 0;
let incidents = 0;
/** Incidents by kind (a flood over many targets must be a handful of incidents, not one per target). */
const kinds: Record<string, number> = {};
/** With baselines: metrics tracked, bytes per metric and in all, anomalies. */
let baseline: { metrics: number; metricBytes: number; memoryBytes: number; anomalies: number } | null = null;
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
if (mode === 'read') {
  let bytes = 0;
  readCaptureFileSync(file, (_buf, _offset, length) => {
    frames++;
    bytes += length;
  });
  if (bytes < 0) process.stderr.write('impossible\n'); // keeps the handler's work observable
} else {
  const config = defaultConfig('normal');
  const settings = mode === 'analyze' ? null : { ...defaultConfig('aggressive').baseline, dynamicThresholds: mode === 'dynamic' };
  const rules = rulesFile !== undefined ? buildRuleEngine(config.rules, config.source, { keepMade: true, extraFiles: [rulesFile] }) : null;
  const pipeline = new Pipeline(config.detection, null, settings, null, { probes: rules !== null ? rules.onProbe : null });
  analyzeFiles([file], pipeline);
  const b = pipeline.baseline;
  if (b !== null) baseline = { metrics: b.trackedMetrics, metricBytes: b.counter('metric_bytes'), memoryBytes: b.memoryBytes, anomalies: b.counter('anomalies') };
  if (rules !== null) for (const r of rules.made) kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
  incidents += rules?.made.length ?? 0;
  frames = pipeline.decodeStats.frames;
  const found = pipeline.engine.incidents();
  incidents += found.length;
  for (const i of found) kinds[i.kind] = (kinds[i.kind] ?? 0) + 1;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// CPU time of this process (user + sys, every thread: V8's GC helpers included), so a figure does not
// depend on how busy the shared machine's other tenants kept the core.
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const maxRssMiB = process.resourceUsage().maxRSS / 1024;
// Live heap after a full collection, untimed: what the analysis still holds (its incidents included),
// apart from garbage V8 had not collected yet when RSS peaked.
setFlagsFromString('--expose-gc');
(runInNewContext('gc') as () => void)();
const liveHeapMiB = process.memoryUsage().heapUsed / 1048576;
process.stdout.write(
  `${JSON.stringify({
    mode,
    frames,
    seconds,
    cpuSeconds,
    framesPerSecond: frames / seconds,
    framesPerCpuSecond: frames / cpuSeconds,
    maxRssMiB,
    liveHeapMiB,
    incidents,
    kinds,
    baseline,
  })}\n`,
);
