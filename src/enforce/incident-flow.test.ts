/**
 * The incident flow's record of a ban a wider ban already holds: the incident's reason says "already
 * covered" (with the prefix and its end) instead of only "Banned", and no ban of its own is recorded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Decision } from '../model/decision.js';
import type { IncidentRecord } from '../model/incident.js';
import { StateKeeper } from '../state/keeper.js';
import { BanBook } from './ban-book.js';
import { DryRunBackend } from './dry-run.js';
import { IncidentFlow } from './incident-flow.js';

test('a detection ban inside a banned prefix is recorded as covered, with the prefix and when it ends', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-flow-'));
  const log = pino({ level: 'silent' });
  const keeper = StateKeeper.open(dir, log);
  try {
    const backend = new DryRunBackend(() => {});
    await backend.setup();
    const book = new BanBook({ backend, recorder: keeper, log });
    book.ban('203.0.113.0/24', 7200, 'operator', 'operator');
    const record = { kind: 'scan', class: 'syn', 'source.ip': '203.0.113.9', probes: 10, evidence: {} } as unknown as IncidentRecord;
    const decision: Decision = { action: 'ban', targets: ['203.0.113.9'], durationSeconds: 3600, reason: 'SYN port scan. Banned 203.0.113.9 for 1h.', incident: record, refused: [], bans: [{ target: '203.0.113.9', timeoutSeconds: 3600 }] };
    const reasons: string[] = [];
    const flow = new IncidentFlow({
      book,
      decider: { decide: () => decision, takeWhy: () => '', forget: () => {} },
      record: (entry) => (reasons.push(entry.reason), keeper.addIncident(entry)),
      log,
      listeners: [],
    });
    flow.onIncident({ toRecord: () => record });
    await book.commit();
    assert.match(reasons[0], /Already covered, not banned again: 203\.0\.113\.9 by 203\.0\.113\.0\/24 \(expires \d{4}-\d\d-\d\d \d\d:\d\d UTC\)\.$/);
    assert.deepEqual(keeper.liveBans(Date.now()).map((b) => b.target), ['203.0.113.0/24']);
    assert.equal(book.has('203.0.113.9'), false);
  } finally {
    keeper.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
