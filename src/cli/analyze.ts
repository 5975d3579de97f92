import { loadConfigFile, defaultConfig, type PortwardenConfig } from '../config/load.js';
import type { ProfileName } from '../model/profile.js';
import { analyzeFiles, Pipeline } from '../detect/pipeline.js';
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
 * not be read (incidents from what was read are still printed).
 */
export async function runAnalyze(files: string[], options: AnalyzeOptions, io: Output): Promise<number> {
  const config: PortwardenConfig = options.config !== undefined ? loadConfigFile(options.config, options.profile) : defaultConfig(options.profile);
  const pipeline = new Pipeline(config.detection);
  const progress = new ProgressReporter(io.err, io.errIsTerminal);
  const started = process.hrtime.bigint();
  const reports = analyzeFiles(files, pipeline, (path, read, size) => progress.update(path, read, size));
  progress.done();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const records = pipeline.engine.incidents().map((i) => i.toRecord());
  const stats = pipeline.decodeStats;

  if (options.json) {
    for (const r of records) io.out(JSON.stringify(r));
  } else {
    io.out(`${records.length} incident${records.length === 1 ? '' : 's'} (profile ${config.profile})`);
    for (const r of records) io.out(`  ${formatIncidentLine(r)}`);
    io.out('');
  }
  const say = options.json ? io.err : io.out;
  const rate = seconds > 0 ? stats.frames / seconds : 0;
  say(`read ${files.length} file${files.length === 1 ? '' : 's'}, ${formatCount(stats.frames)} frames in ${seconds.toFixed(2)} s (${formatCount(rate)} frames/s)`);
  say(`decoder: ${formatCount(stats.decoded)} decoded, ${formatCount(stats.malformed)} malformed${eventList(stats.toJSON())}`);
  const counters = pipeline.engine.counterValues();
  const limits = Object.entries(counters).filter(([k, v]) => k.startsWith('limit.') && v > 0);
  say(
    `detection: ${formatCount(counters['probes.first_contact'])} first contacts, ${formatCount(counters['outcomes.failure'])} failed, ` +
      `${formatCount(counters['flood.member_probes'])} flood member probes; limits hit: ${limits.length === 0 ? 'none' : limits.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')}`,
  );
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

function eventList(events: Record<string, number>): string {
  const entries = Object.entries(events);
  return entries.length === 0 ? '' : ` (${entries.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')})`;
}
