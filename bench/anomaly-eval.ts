/**
 * The anomaly model on the capture corpus (test/fixtures, which holds every ../shared/pcaps capture):
 * trained on the benign captures (the host's own history), then every source of every capture is
 * scored from that trained state. A source is malicious when its capture's expected incidents name it.
 * Prints precision at the top 10 scores and what would have been reported (sources above the alert
 * level that the fixed detectors did not flag). `npm run bench anomaly`; test/anomaly-corpus.test.ts
 * pins the benign side.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/load.js';
import { analyzeFiles, Pipeline } from '../src/detect/pipeline.js';
import { RobustModel } from '../src/detect/anomaly/model.js';
import type { ScoredSource } from '../src/detect/anomaly/behaviour.js';
import type { AnomalySettings } from '../src/detect/anomaly/settings.js';

export interface CorpusCapture {
  name: string;
  file: string;
  benign: boolean;
  /** Sources the expected incidents name. */
  malicious: Set<string>;
}

export function corpusCaptures(fixtures: string): CorpusCapture[] {
  const out: CorpusCapture[] = [];
  for (const folder of readdirSync(fixtures, { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    const dir = join(fixtures, folder.name);
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.expected.json')) continue;
      const base = join(dir, name.slice(0, -'.expected.json'.length));
      const file = ['.pcap', '.pcapng'].map((ext) => base + ext).find((p) => existsSync(p));
      if (file === undefined) continue;
      const spec = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { incidents: { source?: string; sources?: string[] }[] };
      const malicious = new Set<string>();
      for (const i of spec.incidents) for (const s of i.source !== undefined ? [i.source] : (i.sources ?? [])) malicious.add(s);
      out.push({ name: `${folder.name}/${name.slice(0, -'.expected.json'.length)}`, file, benign: spec.incidents.length === 0, malicious });
    }
  }
  return out;
}

export interface Scored extends ScoredSource {
  capture: string;
  malicious: boolean;
}

/** The model's settings for the evaluation: on, and judging from the first source (the history is given). */
export function evalSettings(): AnomalySettings {
  return { ...defaultConfig('normal').anomaly, enabled: true, minTraining: 1 };
}

/** Runs `capture` through detection and the model (a copy of `model` when given); returns every score. */
export function scoreCapture(capture: CorpusCapture, model: RobustModel, settings = evalSettings()): { scored: Scored[]; reported: string[] } {
  const scored: Scored[] = [];
  const pipeline = new Pipeline(defaultConfig('normal').detection, null, null, settings, {
    model,
    onScore: (s) => scored.push({ ...s, capture: capture.name, malicious: capture.malicious.has(s.source) }),
  });
  analyzeFiles([capture.file], pipeline);
  const reported = pipeline.engine
    .incidents()
    .map((i) => i.toRecord())
    .filter((r) => r.kind === 'anomaly')
    .map((r) => r['source.ip'] ?? '?');
  return { scored, reported };
}

/** A model trained on `captures` (their sources, as the watcher would learn them). */
export function train(captures: readonly CorpusCapture[], settings = evalSettings()): RobustModel {
  const model = new RobustModel(settings.historySize);
  for (const c of captures) scoreCapture(c, model, { ...settings, alertScore: Number.MAX_VALUE });
  return model;
}

export function evaluate(fixtures: string): { top: Scored[]; precisionAt10: number; all: Scored[]; reported: { capture: string; source: string; malicious: boolean }[]; trainedOn: number } {
  const captures = corpusCaptures(fixtures);
  const model = train(captures.filter((c) => c.benign));
  const all: Scored[] = [];
  const reported: { capture: string; source: string; malicious: boolean }[] = [];
  for (const c of captures) {
    const r = scoreCapture(c, model.clone());
    all.push(...r.scored);
    for (const s of r.reported) reported.push({ capture: c.name, source: s, malicious: c.malicious.has(s) });
  }
  const top = [...all].sort((a, b) => b.score - a.score).slice(0, 10);
  return { top, precisionAt10: top.filter((s) => s.malicious).length / top.length, all, reported, trainedOn: model.trained };
}

export function anomalySuite(repoRoot: string): void {
  const r = evaluate(join(repoRoot, 'test', 'fixtures'));
  process.stdout.write(`== anomaly model on the corpus: trained on the benign captures (${r.trainedOn} sources), ${r.all.length} sources scored\n`);
  for (const s of r.top) process.stdout.write(`  ${s.score.toFixed(2).padStart(7)}  ${s.malicious ? 'malicious' : 'benign   '}  ${s.flagged ? 'flagged' : '       '}  ${s.source.padEnd(40)} ${s.capture}\n`);
  process.stdout.write(`precision at the top 10 scores: ${(r.precisionAt10 * 100).toFixed(0)}%\n`);
  const benignAbove = r.all.filter((s) => !s.malicious && s.score >= evalSettings().alertScore);
  process.stdout.write(`reported (above ${evalSettings().alertScore}, not flagged by the fixed detectors): ${r.reported.length} (${r.reported.filter((x) => x.malicious).length} malicious)${r.reported.length > 0 ? `: ${r.reported.map((x) => `${x.source} in ${x.capture}`).join(', ')}` : ''}\n`);
  process.stdout.write(`sources not named by any expected incident scoring above the alert level: ${benignAbove.length}${benignAbove.length > 0 ? ` (${benignAbove.slice(0, 5).map((s) => `${s.source} in ${s.capture}`).join(', ')})` : ''}\n`);
}
