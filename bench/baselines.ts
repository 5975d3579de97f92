/**
 * `npm run bench baselines`: what the behavioural baselines cost. The same captures analysed with
 * baselines off, on, and on with dynamic sweep thresholds, in the same run (frames per CPU-second,
 * median of the runs, each in its own process), and the learned state per metric and in all.
 * Inputs: the generated mix (1 M frames, 50 servers), the sparse month of bench/attacks.ts, and the
 * month of bench/baseline-month.ts with its 4x surge (one anomaly expected).
 */
import { join } from 'node:path';
import { writeMixedCapture } from './generate.js';
import { writeSparseMonth } from './attacks.js';
import { writeMonthPcap } from './baseline-month.js';

export interface BaselineBenchDeps {
  /** Median frames per CPU-second of `runs` child runs in `mode`, with the last run's JSON. */
  measure(mode: 'analyze' | 'baselines' | 'dynamic', file: string): { cpuFps: number; fps: number; rss: number; incidents: number; baseline: { metrics: number; metricBytes: number; memoryBytes: number; anomalies: number } | null };
  fmt(n: number): string;
  table(rows: string[][]): void;
  runs: number;
}

export function baselineSuite(dir: string, deps: BaselineBenchDeps): void {
  const { measure, fmt, table } = deps;
  process.stdout.write(`== baselines: analyze with baselines off / on / on + dynamicThresholds, one core, median of ${deps.runs} runs\n`);
  const inputs: { name: string; file: string }[] = [];
  const mixed = join(dir, 'baseline-mixed.pcap');
  const m = writeMixedCapture(mixed, 1_000_000, 1);
  inputs.push({ name: `mixed (${fmt(m.frames)} frames)`, file: mixed });
  const sparse = join(dir, 'baseline-sparse-month.pcap');
  const s = writeSparseMonth(sparse, 8_000, 1);
  inputs.push({ name: `sparse month (${fmt(s.frames)} frames)`, file: sparse });
  const month = join(dir, 'baseline-month.pcap');
  const n = writeMonthPcap(month, { days: 30, surge: { day: 29, hour: 14, port: 443, factor: 4 } });
  inputs.push({ name: `server month + 4x surge (${fmt(n)} frames)`, file: month });

  const rows: string[][] = [['input', 'off: frames/CPU-s', 'on', 'on/off', 'on+dynamic', 'dyn/off', 'metrics', 'B/metric', 'learned state', 'anomalies', 'RSS off/on MiB']];
  for (const i of inputs) {
    const off = measure('analyze', i.file);
    const on = measure('baselines', i.file);
    const dyn = measure('dynamic', i.file);
    const b = on.baseline;
    rows.push([
      i.name,
      fmt(off.cpuFps),
      fmt(on.cpuFps),
      `${((on.cpuFps / off.cpuFps) * 100).toFixed(0)}%`,
      fmt(dyn.cpuFps),
      `${((dyn.cpuFps / off.cpuFps) * 100).toFixed(0)}%`,
      String(b?.metrics ?? '-'),
      fmt(b?.metricBytes ?? 0),
      `${((b?.memoryBytes ?? 0) / 1024).toFixed(0)} KiB`,
      String(b?.anomalies ?? '-'),
      `${off.rss.toFixed(0)}/${on.rss.toFixed(0)}`,
    ]);
  }
  table(rows);
}
