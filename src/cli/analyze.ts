import { checkCaptureFile, STDIN_PATH } from '../capture/capture-file.js';
import { loadConfigFile, defaultConfig, type PortwardenConfig } from '../config/load.js';
import type { EventFirstSeen } from '../decode/events.js';
import type { ProfileName } from '../model/profile.js';
import { analyzeFiles, Pipeline } from '../detect/pipeline.js';
import { buildRuleEngine } from '../rules/index.js';
import { withRuling } from '../rules/verdict.js';
import { formatCount, formatIncidentLine } from './format.js';
import { ProgressReporter } from './progress.js';

export interface AnalyzeOptions {
  json: boolean;
  profile?: ProfileName;
  config?: string;
}

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  errIsTerminal: boolean;
}

/**
 * `portwarden analyze FILE...`: exit status 0 with no incidents, 1 with incidents, 2 when a file could
 * not be read (incidents from what was read are still printed). A file that cannot be opened at all
 * (missing, a directory, no permission) is found before anything is analysed: one error line per
 * such file and exit 2, no summary; so is a run where no file held a single frame. `-` reads the
 * capture from standard input (once).
 */
export async function runAnalyze(files: string[], options: AnalyzeOptions, io: Output): Promise<number> {
  if (files.filter((f) => f === STDIN_PATH).length > 1) {
    io.err('portwarden: PW_ERR_USAGE: standard input (-) can be read only once');
    return 2;
  }
  let unopenable = false;
  for (const file of files) {
    const problem = checkCaptureFile(file);
    if (problem === null) continue;
    io.err(`portwarden: ${problem.code}: ${problem.message}`);
    unopenable = true;
  }
  if (unopenable) return 2;
  const config: PortwardenConfig = options.config !== undefined ? loadConfigFile(options.config, options.profile) : defaultConfig(options.profile);
  // Rules (config `rules`): probe rules beside detection, incident rules on every incident after it.
  const rules = buildRuleEngine(config.rules, config.source, { keepMade: true });
  const pipeline = new Pipeline(config.detection, null, config.baseline, config.anomaly, { probes: rules.hasProbeRules ? rules.onProbe : null });
  const progress = new ProgressReporter(io.err, io.errIsTerminal);
  const started = process.hrtime.bigint();
  const reports = analyzeFiles(files, pipeline, (path, read, size) => progress.update(path, read, size));
  progress.done();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Detection's incidents in its order, then the rule-made ones; rulings in time order (buckets fill in packet time).
  const detected = [...pipeline.engine.incidents().map((i) => i.toRecord()), ...rules.made];
  const rulings = new Map([...detected].sort((x, y) => (x.last_seen < y.last_seen ? -1 : x.last_seen > y.last_seen ? 1 : 0)).map((r) => [r, rules.rule(r)] as const));
  const records = detected.map((r) => withRuling(r, rulings.get(r) ?? null, config.decide.banSeconds));
  const stats = pipeline.decodeStats;
  // Nothing was a capture (an empty file, a text file, an empty pipe): the errors say it all, and a
  // "0 incidents" summary would read as a clean bill of health.
  if (stats.frames === 0 && reports.every((r) => r.error !== null)) {
    for (const r of reports) if (r.error !== null) io.err(`portwarden: ${r.error.code}: ${r.error.message}`);
    return 2;
  }

  if (options.json) {
    for (const r of records) io.out(JSON.stringify(r));
  } else {
    io.out(`${records.length} incident${records.length === 1 ? '' : 's'} (profile ${config.profile})`);
    for (const r of records) io.out(`  ${formatIncidentLine(r)}${r['rule.name'] !== undefined ? `  rule ${r['rule.name']}: ${r['rule.action']}` : ''}`);
    io.out('');
  }
  const say = options.json ? io.err : io.out;
  const rate = seconds > 0 ? stats.frames / seconds : 0;
  say(`read ${files.length} file${files.length === 1 ? '' : 's'}, ${formatCount(stats.frames)} frames in ${seconds.toFixed(2)} s (${formatCount(rate)} frames/s)`);
  say(`decoder: ${formatCount(stats.decoded)} decoded, ${formatCount(stats.malformed)} malformed${eventList(stats.firstSeen(), files.length > 1)}`);
  const counters = pipeline.engine.counterValues();
  const limits = Object.entries(counters).filter(([k, v]) => k.startsWith('limit.') && v > 0);
  say(
    `detection: ${formatCount(counters['probes.first_contact'])} first contacts, ${formatCount(counters['outcomes.failure'])} failed, ` +
      `${formatCount(counters['flood.member_probes'])} flood member probes; limits hit: ${limits.length === 0 ? 'none' : limits.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')}`,
  );
  const b = pipeline.baseline;
  if (b !== null) {
    say(`baselines: ${formatCount(b.trackedMetrics)} metrics (${formatCount(b.counter('metric_bytes'))} B each, ${formatCount(b.memoryBytes)} B in all), ${formatCount(b.counter('hours'))} hours judged, ${formatCount(b.counter('anomalies'))} anomalies${b.counter('limit.metrics') > 0 ? `; limit hit: ${formatCount(b.counter('limit.metrics'))} answers untracked (maxMetrics)` : ''}`);
  }
  let failed = false;
  for (const r of reports) {
    if (r.error !== null) {
      failed = true;
      io.err(`portwarden: ${r.error.code}: ${r.error.message} (the ${formatCount(stats.frames)} frames read before it were analysed)`);
    }
  }
  if (failed) return 2;
  return records.length > 0 ? 1 : 0;
}

/**
 * Each event with its count and where it first happened, so a malformed frame can be found in the
 * capture (frame numbers from 1 per file, as Wireshark counts; the byte offset of its record).
 */
function eventList(events: Partial<Record<string, EventFirstSeen>>, nameFiles: boolean): string {
  const entries = Object.entries(events).filter((e): e is [string, EventFirstSeen] => e[1] !== undefined);
  if (entries.length === 0) return '';
  const where = (e: EventFirstSeen): string => {
    const file = nameFiles && e.source !== null ? `${e.source === STDIN_PATH ? 'standard input' : e.source} ` : '';
    return `first at ${file}frame ${e.frame}${e.offset === null ? '' : `, byte offset ${e.offset}`}`;
  };
  return ` (${entries.map(([name, e]) => `${name} ${formatCount(e.count)}, ${where(e)}`).join('; ')})`;
}
