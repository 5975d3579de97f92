/**
 * The playbook steps' doors into the live daemon: bans through decide (the lockout guard and cap apply)
 * into the ban book, alerts through the alert channels, decide's ban lengths of a stricter profile for a
 * while, and the flood guard when one is configured.
 */
import type { Alerting } from '../alert/alerting.js';
import { incidentAlert } from '../alert/alert.js';
import type { BanBook } from '../enforce/ban-book.js';
import type { Decider, Decision } from '../model/decision.js';
import type { FloodGuardControl } from '../model/flood-guard.js';
import { humanDuration } from '../model/duration.js';
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import type { ProfileName } from '../model/profile.js';
import { POLICY_PROFILES } from '../decide/policy.js';
import type { DecideSettings } from '../decide/decider.js';
import type { AllowlistEntry } from '../decide/allowlist.js';
import type { PlaybookActions } from './runner.js';

interface DecideStageLike {
  build(c: { profile: ProfileName; decide: DecideSettings; allowlist: readonly (string | AllowlistEntry)[] }): Promise<Decider>;
}

export interface DaemonPlaybookParts<Handle> {
  book: BanBook<Handle>;
  decider: () => Decider;
  alerts: Alerting | undefined;
  floodGuard: FloodGuardControl | null;
  decide: DecideStageLike;
  running: { readonly current: { profile: ProfileName; decide: DecideSettings; allowlist: readonly (string | AllowlistEntry)[] } };
  log: EventLogger;
}

export function daemonPlaybookActions<Handle>(p: DaemonPlaybookParts<Handle>): PlaybookActions {
  let restore: NodeJS.Timeout | null = null;
  return {
    ban(record: IncidentRecord, seconds: number | null, why: string): string {
      const d = p.decider().decide(record, Date.now(), { rule: why, durationSeconds: seconds, escalate: seconds === null });
      if (d.action !== 'ban') throw new Error(d.refused.length > 0 ? `not banned: ${d.refused.map((r) => `${r.target} (${r.why})`).join('; ')}` : `not banned: ${d.reason}`);
      for (const b of d.bans) p.book.ban(b.target, b.timeoutSeconds, d.reason, 'detection');
      return `banned ${d.bans.map((b) => `${b.target} for ${humanDuration(b.timeoutSeconds)}`).join(', ')}`;
    },
    respond: null,
    alert(decision: Decision, channels: readonly string[]): string {
      if (p.alerts === undefined) throw new Error('alerting is not running');
      p.alerts.publish(incidentAlert(decision), channels);
      return channels.length === 0 ? 'alert sent to every channel' : `alert sent to ${channels.join(', ')}`;
    },
    async raiseProfile(profile: ProfileName, seconds: number): Promise<string> {
      const c = p.running.current;
      // Decide's ban lengths of the stricter profile; detection's thresholds stay (they need a restart).
      await p.decide.build({ ...c, profile, decide: { ...c.decide, banSeconds: { ...POLICY_PROFILES[profile].banSeconds } } });
      if (restore !== null) clearTimeout(restore);
      restore = setTimeout(() => {
        restore = null;
        void p.decide.build(p.running.current).then(() => p.log.info({ 'event.action': 'profile-restored', profile: p.running.current.profile }, `decide back to the ${p.running.current.profile} profile`));
      }, seconds * 1000);
      restore.unref();
      return `decide uses the ${profile} profile's ban lengths for ${humanDuration(seconds)}`;
    },
    floodGuard: p.floodGuard,
  };
}
