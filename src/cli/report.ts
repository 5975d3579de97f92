/**
 * `portwarden report --since 30d [--format html|pdf] [--out FILE]`: a self-contained report of the state database
 * (src/observe/report.ts). HTML goes to standard output or FILE; PDF is HTML printed by headless chromium
 * (Debian's `chromium`; PORTWARDEN_CHROMIUM names another binary).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PortwardenError } from '../errors.js';
import { renderReport } from '../observe/report.js';
import { STATE_FILE } from '../state/database.js';
import { queryReport } from '../state/report-query.js';
import type { Output } from './analyze.js';
import { parseDuration } from './control-commands.js';
import { stateDir, withDatabase, type StateOptions } from './state-commands.js';
import { packageVersion } from './version.js';

export interface ReportOptions extends StateOptions {
  since?: string;
  format: string;
  out?: string;
}

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-pdf-header-footer'];

function printPdf(html: string, out: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-report-'));
  try {
    const page = join(dir, 'report.html');
    writeFileSync(page, html);
    const chromium = process.env.PORTWARDEN_CHROMIUM ?? '/usr/bin/chromium';
    const r = spawnSync(chromium, [...CHROMIUM_FLAGS, `--user-data-dir=${join(dir, 'profile')}`, `--print-to-pdf=${out}`, `file://${page}`], { encoding: 'utf8', timeout: 60_000 });
    if (r.error !== undefined || r.status !== 0) {
      const why = r.error !== undefined ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
      throw new PortwardenError('PW_ERR_USAGE', `cannot print the report to PDF with ${chromium} (${why}); install Debian's chromium or write --format html`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function runReport(options: ReportOptions, io: Output): number {
  if (options.format !== 'html' && options.format !== 'pdf') throw new PortwardenError('PW_ERR_USAGE', `--format ${JSON.stringify(options.format)}: choose html or pdf`);
  const untilMs = Date.now();
  const sinceMs = untilMs - parseDuration(options.since ?? '30d') * 1000;
  const dir = stateDir(options);
  const data = withDatabase(options, (db) => queryReport(db, join(dir, STATE_FILE), sinceMs, untilMs));
  const html = renderReport(data, { host: hostname(), stateDir: dir, version: packageVersion(), generatedMs: untilMs, geo: false });
  if (options.format === 'pdf') {
    const out = resolve(options.out ?? 'portwarden-report.pdf');
    printPdf(html, out);
    io.err(`report written to ${out}`);
  } else if (options.out !== undefined) {
    writeFileSync(options.out, html);
    io.err(`report written to ${options.out}`);
  } else io.out(html.trimEnd());
  return 0;
}
