/**
 * docs/reference.md is generated from the tables in the code (error codes, decoder events, detection
 * counters, probe classes), so the documentation cannot drift: test/docs.test.ts compares the file with
 * this output. Regenerate with: npx tsx scripts/reference.ts > docs/reference.md
 */
import { fileURLToPath } from 'node:url';
import { DecideEvent } from '../src/model/decision.js';
import { StateEvent } from '../src/state/state-store.js';
import { IntelEvent } from '../src/intel/events.js';
import { DecodeEventDoc } from '../src/decode/events.js';
import { DetectionCounterDoc } from '../src/detect/counters.js';
import { PROBE_CLASS_NAMES } from '../src/model/probe.js';
import { ErrorCode } from '../src/errors.js';
import { METRICS } from '../src/observe/metrics.js';

const PROBE_CLASS_DOC: Record<(typeof PROBE_CLASS_NAMES)[number], string> = {
  syn: 'TCP SYN from a raw-socket scanner (nmap -sS, masscan, zmap): half-open, reset after a SYN-ACK',
  connect: 'TCP SYN whose prober completes handshakes to open ports (nmap -sT, an OS connect() scan)',
  fin: 'TCP FIN alone (nmap -sF)',
  null: 'TCP with no flags (nmap -sN)',
  xmas: 'TCP FIN+PSH+URG (nmap -sX)',
  ack: 'TCP ACK alone, no connection (nmap -sA, and -sW window scans, which look the same on the wire)',
  maimon: 'TCP FIN+ACK, no connection (nmap -sM)',
  odd: 'any other TCP flag combination opening no connection (e.g. all flags set)',
  udp: 'UDP datagram opening no conversation',
  'ip-proto': 'IP packet of another protocol (nmap -sO); the "port" is the protocol number',
  icmp: 'ICMP or ICMPv6 echo request',
};

export function reference(): string {
  const lines: string[] = [
    '# Reference',
    '',
    'Generated from the code by `scripts/reference.ts`; `test/docs.test.ts` keeps it in step.',
    '',
    '## Error codes',
    '',
    'Every error portwarden reports carries one of these codes (match on the code, never the text).',
    '',
    '| code | meaning |',
    '|---|---|',
    ...Object.entries(ErrorCode).map(([code, doc]) => `| \`${code}\` | ${doc} |`),
    '',
    '## Decoder events',
    '',
    'Counted per frame by the decoder and shown in the `analyze` summary, each with where it first happened',
    '(frame number from 1 per file, byte offset of the frame\'s record). A malformed frame is counted and',
    'skipped; a notice leaves the frame valid.',
    '',
    '| event | meaning |',
    '|---|---|',
    ...Object.entries(DecodeEventDoc)
      .filter(([name]) => name !== 'none')
      .map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
    '## Detection counters',
    '',
    '| counter | counts |',
    '|---|---|',
    ...Object.entries(DetectionCounterDoc).map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
    '## Decision events',
    '',
    'Logged by the decide stage with `event.action` set to the name.',
    '',
    '| event.action | meaning |',
    '|---|---|',
    ...Object.entries(DecideEvent).map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
    '## State events',
    '',
    'Logged by the daemon about its state database (src/state/) with `event.action` set to the name.',
    '',
    '| event.action | meaning |',
    '|---|---|',
    ...Object.entries(StateEvent).map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
    '## Geo and reputation events',
    '',
    'Logged by the daemon about geo (src/intel/geo/) and the on-demand reputation services (src/intel/enrich/) with `event.action` set to the name.',
    '',
    '| event.action | meaning |',
    '|---|---|',
    ...Object.entries(IntelEvent).map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
    '## Probe classes',
    '',
    'An incident\'s `class` is the class of at least 80% of its probes, else `mixed`.',
    '',
    '| class | on the wire |',
    '|---|---|',
    ...PROBE_CLASS_NAMES.map((name) => `| \`${name}\` | ${PROBE_CLASS_DOC[name]} |`),
    '',
    '## Metrics',
    '',
    'Served at `/metrics` on the observe listener (`observe.listen`, default 127.0.0.1:9717), besides the',
    'standard `process_*` and `nodejs_*` series. contrib/grafana/portwarden.json charts them.',
    '',
    '| metric | meaning |',
    '|---|---|',
    ...Object.entries(METRICS).map(([name, doc]) => `| \`${name}\` | ${doc} |`),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(reference());
