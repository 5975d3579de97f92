/**
 * docs/rules.md is generated from the code: the fields a rule's filter reads (src/rules/fields.ts), the
 * actions, the playbook steps and the caps, so the reference cannot drift; test/rules-doc.test.ts
 * compares the file with this output. Regenerate with: npx tsx scripts/rules-doc.ts > docs/rules.md
 */
import { fileURLToPath } from 'node:url';
import { RULE_FIELDS } from '../src/rules/fields.js';
import { DEFAULT_RULE_LIMITS } from '../src/rules/settings.js';
import { MAX_LITERAL_ELEMENTS, MAX_MACRO_NESTING } from '../src/rules/cel.js';
import { MAX_QUEUED, MAX_RUNNING } from '../src/playbook/runner.js';

export function rulesDoc(): string {
  const lines = [
    '# Rule fields and actions',
    '',
    'Generated from the code by `scripts/rules-doc.ts`; `test/rules-doc.test.ts` keeps it in step. README "Rules" and "Playbooks" explain how rules and playbooks work.',
    '',
    '## Fields a filter reads',
    '',
    "A rule's `filter` is a [CEL](https://github.com/google/cel-spec) expression over these variables; any other name is refused when the rule is loaded. `incident` rules see incident fields, `probe` rules see probe fields. Integers are CEL `int`.",
    '',
    '| field | CEL type | rules | meaning |',
    '|---|---|---|---|',
    ...Object.entries(RULE_FIELDS).map(([name, f]) => `| \`${name}\` | \`${f.type}\` | ${f.on.join(', ')} | ${f.doc.replace(/\|/g, '\\|')} |`),
    '',
    '## Actions',
    '',
    '| action | written | what it does |',
    '|---|---|---|',
    "| ban | `ban` or `{ ban: { duration: 2h, escalate: false } }` | bans the incident's source(s) through decide: the lockout guard and the new-ban cap still apply; without `duration`, the profile's length for the kind; `escalate: true` lets repeat offenders get longer bans |",
    '| alert | `alert` or `{ alert: { channels: [ops] } }` | no ban; the incident is alerted to the named channels (all when none are named) |',
    "| respond | `respond` | no ban; the playbook step `respond` answers the source (needs an answering daemon) |",
    '| ignore | `ignore` | no ban, no alert above `info`, no playbook |',
    "| rate-limit | `{ rate-limit: { perSecond: 5, duration: 10m } }` | no ban; the flood guard limits the source's new connections (reported as failed while no flood guard is configured) |",
    '| playbook | `{ playbook: NAME }` | no ban by decide; runs `playbooks.NAME` |',
    '',
    '## Playbook steps',
    '',
    '| step | written | what it does |',
    '|---|---|---|',
    "| ban | `{ ban: { duration: 6h } }` | bans the incident's source(s) through decide (the lockout guard applies) |",
    '| respond | `respond` | answers the source per `respond.mode` (reported as failed where the daemon does not answer scanners) |',
    '| alert | `{ alert: { channels: [ops] } }` | alerts the incident to the named channels (all when none) |',
    "| raise-profile | `{ raise-profile: { to: paranoid, for: 1h } }` | decide uses that profile's ban lengths for a while (detection thresholds need a restart) |",
    '| flood-guard | `{ flood-guard: { port: 443, for: 10m } }` | turns the flood guard on (reported as failed while none is configured) |',
    '| command | `{ command: { argv: [/usr/local/bin/hook, --x], timeout: 10s } }` | runs the program (no shell) with the incident as one JSON line on stdin; killed at the timeout (default 10 s); non-zero exit fails the step |',
    '',
    `At most ${MAX_RUNNING} playbooks run at once and ${MAX_QUEUED} wait; more are dropped (\`playbook.dropped\`).`,
    '',
    '## Caps',
    '',
    '| cap | default | setting |',
    '|---|---|---|',
    `| characters in one filter | ${DEFAULT_RULE_LIMITS.maxExpressionLength} | \`rules.limits.maxExpressionLength\` |`,
    `| syntax-tree nodes of one filter | ${DEFAULT_RULE_LIMITS.maxNodes} | \`rules.limits.maxNodes\` |`,
    `| syntax-tree depth of one filter | ${DEFAULT_RULE_LIMITS.maxDepth} | \`rules.limits.maxDepth\` |`,
    `| leaky buckets alive at once, per rule | ${DEFAULT_RULE_LIMITS.maxBuckets} | \`rules.limits.maxBuckets\` (past it the oldest is dropped: \`rules.buckets_dropped\`) |`,
    `| list macros (all, exists, exists_one, map, filter) nested | ${MAX_MACRO_NESTING} | fixed |`,
    `| elements of a list or map literal | ${MAX_LITERAL_ELEMENTS} | fixed |`,
    '| regular expressions (`matches`) | refused | fixed: a pattern could backtrack for minutes |',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(rulesDoc());
