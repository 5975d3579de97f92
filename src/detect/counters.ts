import { counterIds } from '../model/counters.js';

/**
 * Detection counters: a public vocabulary (logs, `analyze` summary, metrics), one table, each with
 * what it counts. Incremented by index on the hot path.
 */
export const DetectionCounterDoc = {
  'packets.seen': 'packets handed to detection',
  'packets.ignored': 'packets with no IP layer, malformed, or later fragments (no transport header)',
  'probes.first_contact': 'probes that were the first contact of a source with a port of a target',
  'outcomes.success': 'first contacts answered positively (SYN-ACK, reply)',
  'outcomes.failure': 'first contacts refused (RST, ICMP unreachable) or left unanswered past the timeout',
  'answers.unsolicited': 'answers (SYN-ACK, RST, DNS/NTP/… responses, ICMP errors) to a request never seen: reflection floods are counted from these',
  'flood.member_probes': 'probes from unknown sources to a target under flood, counted in the flood and not tracked per source',
  'limit.records': '(source, target) or (source, port) records forgotten early because their table slots (maxRecords) were full',
  'limit.items': 'ports or hosts counted but not remembered because maxRememberedItems was spent (a repeat may count as new)',
  'limit.evidence': 'records left counted only, without evidence, because maxEvidenceRecords records held evidence (detection fails open for them)',
  'limit.targets': 'targets forgotten early because maxTargets was reached',
  'limit.flows': 'flows evicted because their hash chain was full (maxFlows)',
  'limit.pending': 'first contacts judged before their timeout because the pending queue was full',
  'expired.records': 'records reused after being idle (sourceIdleMs, lightSourceIdleMs)',
  'expired.targets': 'targets forgotten after being idle',
  'decoy.groups_discarded': 'fingerprint groups with more sources than decoy.maxSources (a tool with fixed fields, not decoys)',
} as const;

export type DetectionCounterName = keyof typeof DetectionCounterDoc;
export const DETECTION_COUNTER_NAMES = Object.keys(DetectionCounterDoc) as DetectionCounterName[];
export const DetectionCounter = counterIds(DetectionCounterDoc);
