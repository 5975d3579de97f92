/**
 * Runs playbooks: after an incident is decided and recorded, the playbook a rule named (`playbook: NAME`),
 * or else the one of the incident's kind, runs its steps in order; a rule's `respond` and `rate-limit`
 * actions run here too, as one step. Each step's outcome is logged and written into the incident's
 * stored record (`playbook.steps`); a failing step is reported and the next one still runs. An ignored
 * incident runs nothing. Runs are asynchronous and never hold up the incident flow; at most
 * MAX_RUNNING at once, MAX_QUEUED waiting (more are dropped, logged and counted).
 */
import type { CounterGroup } from '../model/counters.js';
import type { Decision } from '../model/decision.js';
import type { FloodGuardControl } from '../model/flood-guard.js';
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import type { ProfileName } from '../model/profile.js';
import { runCommand } from './command.js';
import type { PlaybookSettings, PlaybookStep } from './settings.js';

export const MAX_RUNNING = 4;
export const MAX_QUEUED = 1000;

/** One step's outcome, as logged and stored. */
export interface StepOutcome {
  step: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** The daemon's doors the steps use; each returns what it did, in words, or throws why it could not. */
export interface PlaybookActions {
  /** Bans the incident's sources for `seconds` (null: the profile's), through the lockout guard. */
  ban(record: IncidentRecord, seconds: number | null, why: string): string;
  /** Answers the incident's sources per respond.mode; null when the daemon does not answer scanners. */
  respond: ((record: IncidentRecord) => string) | null;
  alert(decision: Decision, channels: readonly string[]): string;
  /** Decide's ban lengths of `profile` for `seconds`; null when not available. */
  raiseProfile: ((profile: ProfileName, seconds: number) => Promise<string>) | null;
  floodGuard: FloodGuardControl | null;
}

export interface PlaybookRunnerOptions<Handle> {
  settings: () => PlaybookSettings;
  actions: PlaybookActions;
  log: EventLogger;
  /** Writes the record with its steps into the stored incident. */
  annotate(stored: Handle, record: IncidentRecord): void;
}

interface Job<Handle> {
  name: string;
  steps: PlaybookStep[];
  record: IncidentRecord;
  decision: Decision;
  stored: Handle;
}

function stepName(s: PlaybookStep): string {
  return s.type === 'command' ? `command ${s.argv[0]}` : s.type;
}

export class PlaybookRunner<Handle> {
  readonly #o: PlaybookRunnerOptions<Handle>;
  readonly #queue: Job<Handle>[] = [];
  #running = 0;
  #idle: (() => void)[] = [];
  readonly #counts = { runs: 0, steps: 0, failed: 0, dropped: 0 };

  constructor(options: PlaybookRunnerOptions<Handle>) {
    this.#o = options;
  }

  /** The incident flow's `recorded` hook. */
  readonly onRecorded = (record: IncidentRecord, decision: Decision, stored: Handle): void => {
    if (decision.action === 'ignore') return;
    const books = this.#o.settings();
    const a = decision.rule?.action;
    let name: string;
    let steps: PlaybookStep[] | undefined;
    if (a?.type === 'playbook') {
      name = a.name;
      steps = books[a.name];
      if (steps === undefined) {
        this.#o.log.warn({ 'event.action': 'playbook-missing', 'rule.name': decision.rule?.rule, playbook: a.name }, `rule ${decision.rule?.rule} names playbook ${a.name}, which the config does not define`);
        return;
      }
    } else if (a?.type === 'respond') {
      name = `rule ${decision.rule!.rule}`;
      steps = [{ type: 'respond' }];
    } else if (a?.type === 'rate-limit') {
      name = `rule ${decision.rule!.rule}`;
      steps = [];
      this.#enqueue({ name, steps, record, decision, stored }, a);
      return;
    } else {
      name = record.kind;
      steps = books[record.kind];
      if (steps === undefined || steps.length === 0) return;
    }
    this.#enqueue({ name, steps, record, decision, stored });
  };

  #enqueue(job: Job<Handle>, rateLimit?: { perSecond: number; durationSeconds: number }): void {
    if (rateLimit !== undefined) {
      // A rule's rate-limit: the flood guard's per-source limit, as a one-step playbook.
      job.steps = [{ type: 'flood-guard', port: undefined, seconds: rateLimit.durationSeconds }];
      (job as Job<Handle> & { perSecond?: number }).perSecond = rateLimit.perSecond;
    }
    if (this.#queue.length >= MAX_QUEUED) {
      this.#counts.dropped++;
      this.#o.log.warn({ 'event.action': 'playbook-dropped', playbook: job.name }, `playbook ${job.name} dropped: ${MAX_QUEUED} runs already waiting`);
      return;
    }
    this.#queue.push(job);
    this.#next();
  }

  #next(): void {
    while (this.#running < MAX_RUNNING && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running++;
      void this.#run(job).finally(() => {
        this.#running--;
        this.#next();
        if (this.#running === 0 && this.#queue.length === 0) for (const f of this.#idle.splice(0)) f();
      });
    }
  }

  /** Resolves when no playbook is running or waiting (stop, tests). */
  settle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #run(job: Job<Handle>): Promise<void> {
    this.#counts.runs++;
    const outcomes: StepOutcome[] = [];
    for (const step of job.steps) {
      const started = Date.now();
      let ok: boolean;
      let detail: string;
      try {
        ({ ok, detail } = await this.#step(step, job));
      } catch (err) {
        ok = false;
        detail = err instanceof Error ? err.message : String(err);
      }
      const outcome = { step: stepName(step), ok, detail, ms: Date.now() - started };
      outcomes.push(outcome);
      this.#counts.steps++;
      if (!ok) this.#counts.failed++;
      const fields = { 'event.action': ok ? 'playbook-step' : 'playbook-step-failed', playbook: job.name, step: outcome.step, 'source.ip': job.record['source.ip'], outcome: detail };
      if (ok) this.#o.log.info(fields, `playbook ${job.name}: ${outcome.step}: ${detail}`);
      else this.#o.log.warn(fields, `playbook ${job.name}: ${outcome.step} failed: ${detail}`);
    }
    job.record['playbook.name'] = job.name;
    job.record['playbook.steps'] = outcomes;
    this.#o.annotate(job.stored, job.record);
  }

  async #step(step: PlaybookStep, job: Job<Handle> & { perSecond?: number }): Promise<{ ok: boolean; detail: string }> {
    const a = this.#o.actions;
    switch (step.type) {
      case 'ban':
        return { ok: true, detail: a.ban(job.record, step.durationSeconds, `playbook ${job.name}`) };
      case 'respond':
        if (a.respond === null) return { ok: false, detail: 'this daemon does not answer scanners (respond.mode, enforce backend)' };
        return { ok: true, detail: a.respond(job.record) };
      case 'alert':
        return { ok: true, detail: a.alert(job.decision, step.channels) };
      case 'raise-profile':
        if (a.raiseProfile === null) return { ok: false, detail: 'raising the profile is not available here' };
        return { ok: true, detail: await a.raiseProfile(step.to, step.seconds) };
      case 'flood-guard': {
        if (a.floodGuard === null) return { ok: false, detail: 'no flood guard in this daemon (floodGuard needs the nftables backend)' };
        if (job.perSecond !== undefined) {
          // The kernel guard limits every source alike (floodGuard.connLimit); it has no per-source lever yet.
          return { ok: false, detail: 'rate-limiting one source on demand is not available: per-source limits are floodGuard.connLimit, for every source' };
        }
        const reason = `playbook ${job.name}`;
        const port = step.port ?? guardedPort(job.record);
        const outcome =
          job.record.class === 'reflection' && step.port === undefined
            ? await a.floodGuard.engage('unsolicited', null, step.seconds, reason)
            : port !== undefined
              ? await a.floodGuard.engage('synproxy', port, step.seconds, reason)
              : ({ ok: false, reason: 'the step names no port and the incident none either' } as const);
        if (!outcome.ok) return { ok: false, detail: outcome.reason };
        return { ok: true, detail: `flood guard ${outcome.action}${port !== undefined && job.record.class !== 'reflection' ? ` for tcp/${port}` : ' (unsolicited answers)'} for ${step.seconds}s` };
      }
      case 'command':
        return runCommand(step.argv, `${JSON.stringify(job.record)}\n`, step.timeoutMs);
    }
  }

  /** `playbook.*` counters. */
  readonly counters: CounterGroup = {
    group: 'playbook',
    forEach: (visit) => {
      visit('playbook.runs', this.#counts.runs, 'playbooks run (rule actions respond and rate-limit included)');
      visit('playbook.steps', this.#counts.steps, 'playbook steps run');
      visit('playbook.steps_failed', this.#counts.failed, 'playbook steps that failed (the next ones still ran)');
      visit('playbook.dropped', this.#counts.dropped, `playbook runs dropped because ${MAX_QUEUED} were waiting`);
    },
  };
}

/** The TCP port an incident is about ('tcp/443' → 443), for a synproxy guard. */
function guardedPort(record: IncidentRecord): number | undefined {
  const m = /^tcp\/(\d+)$/.exec(record['destination.port'] ?? '');
  return m === null ? undefined : Number(m[1]);
}
