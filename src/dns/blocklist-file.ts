/**
 * Reads blocklist files in the three common formats, line by line, into a Blocklist:
 *
 * | line                          | format   | blocks                                   |
 * |-------------------------------|----------|------------------------------------------|
 * | `example.com`                 | plain    | example.com and every name under it      |
 * | `*.example.com`               | plain    | the same (the wildcard says it outright) |
 * | `0.0.0.0 a.example b.example` | hosts    | exactly those names (what a hosts file does) |
 * | `\|\|example.com^`            | Adblock  | example.com and every name under it      |
 *
 * Comments (`#` anywhere, `!` at the start of a line, an `[Adblock Plus 2.0]` header) and blank
 * lines are skipped; hosts-file housekeeping names (localhost, broadcasthost, …) are ignored.
 *
 * A line that is none of these (an Adblock rule with a path or options, a name with a bad label)
 * is reported with file:line and skipped: real lists mix in rules a DNS filter cannot apply, and
 * refusing a whole list for one of them would leave everything in it unblocked. With `strict`,
 * the load is refused instead (PW_ERR_DNS_BLOCKLIST listing the bad lines).
 */
import { readFileSync } from 'node:fs';
import { PortwardenError } from '../errors.js';
import { Blocklist, MatchKind } from './blocklist.js';

export interface BadLine {
  file: string;
  line: number;
  text: string;
  reason: string;
}

export interface BlocklistLoad {
  blocklist: Blocklist;
  /** Entries read per file (names, before merging duplicates). */
  files: { file: string; entries: number }[];
  /** Lines skipped as not applicable (all of them, in order). */
  bad: BadLine[];
}

export interface LoadOptions {
  /** Refuse the load when any line is bad (default: report and skip). */
  strict?: boolean;
}

/** Names a hosts file maps for the system's own sake, never blocklist entries. */
const HOSTS_HOUSEKEEPING = new Set(['localhost', 'localhost.localdomain', 'local', 'broadcasthost', 'ip6-localhost', 'ip6-loopback', 'ip6-localnet', 'ip6-mcastprefix', 'ip6-allnodes', 'ip6-allrouters', 'ip6-allhosts', '0.0.0.0']);

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:]*:[0-9a-f:.]*$/i;
const ADBLOCK = /^\|\|([^/^$|*]+)\^(?:\$important)?$/;

/** The canonical form of `text` as a blockable domain name, or a reason it is not one. */
export function canonicalName(text: string): { name: string } | { reason: string } {
  let name = text.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0) return { reason: 'empty name' };
  if (name.length > 253) return { reason: `name of ${name.length} characters (at most 253)` };
  const labels = name.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) return { reason: `label ${JSON.stringify(label)} is not a DNS label (letters, digits, '-', '_'; 1-63 characters)` };
  }
  if (IPV4.test(name)) return { reason: 'an IP address, not a domain name' };
  return { name };
}

/**
 * Parses one line; adds its names to `into`. Returns the number of names added, or a reason
 * the line is bad; comments and blank lines return 0.
 */
export function parseLine(raw: string, into: Blocklist): number | { reason: string } {
  let line = raw;
  const hash = line.indexOf('#');
  if (hash >= 0) line = line.slice(0, hash);
  line = line.trim();
  if (line === '' || line.startsWith('!') || (line.startsWith('[') && line.endsWith(']'))) return 0;

  if (line.startsWith('||')) {
    const m = ADBLOCK.exec(line);
    if (m === null) return { reason: 'an Adblock rule other than ||name^ (paths, wildcards and options cannot apply to DNS)' };
    const c = canonicalName(m[1]);
    if ('reason' in c) return c;
    into.add(c.name, MatchKind.subtree);
    return 1;
  }
  if (line.startsWith('@@') || line.startsWith('|') || line.includes('##')) return { reason: 'an Adblock exception or element rule (not a blocking domain rule)' };

  const fields = line.split(/\s+/);
  if (fields.length > 1) {
    if (!IPV4.test(fields[0]) && !IPV6.test(fields[0])) return { reason: 'several fields, but the first is not an address (hosts format: ADDRESS NAME...)' };
    let added = 0;
    for (const field of fields.slice(1)) {
      if (HOSTS_HOUSEKEEPING.has(field.toLowerCase())) continue;
      const c = canonicalName(field);
      if ('reason' in c) return c;
      into.add(c.name, MatchKind.exact);
      added++;
    }
    return added;
  }
  let name = fields[0];
  if (name.startsWith('*.')) name = name.slice(2);
  else if (name.startsWith('.')) name = name.slice(1);
  const c = canonicalName(name);
  if ('reason' in c) return c;
  into.add(c.name, MatchKind.subtree);
  return 1;
}

/** Parses `text` (the content of `file`) into `into`; bad lines are appended to `bad`. */
export function parseBlocklistText(text: string, file: string, into: Blocklist, bad: BadLine[]): number {
  let entries = 0;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    const r = parseLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, into);
    if (typeof r === 'number') entries += r;
    else bad.push({ file, line: lineNo, text: raw.trim().slice(0, 120), reason: r.reason });
    start = end + 1;
  }
  return entries;
}

/**
 * Loads every file into one Blocklist.
 * @throws PortwardenError PW_ERR_DNS_BLOCKLIST when a file cannot be read, or (strict) a line is bad,
 *   naming file:line.
 */
export function loadBlocklists(files: readonly string[], options: LoadOptions = {}): BlocklistLoad {
  const blocklist = new Blocklist();
  const bad: BadLine[] = [];
  const counts: { file: string; entries: number }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new PortwardenError('PW_ERR_DNS_BLOCKLIST', `${file}: cannot read the blocklist: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    // A rough size hint: one name per line of about 24 bytes.
    blocklist.reserve(blocklist.size + Math.ceil(text.length / 24));
    counts.push({ file, entries: parseBlocklistText(text, file, blocklist, bad) });
  }
  if (options.strict === true && bad.length > 0) {
    const shown = bad.slice(0, 10).map(formatBadLine);
    const more = bad.length > 10 ? `\n… and ${bad.length - 10} more` : '';
    throw new PortwardenError('PW_ERR_DNS_BLOCKLIST', `${bad.length} bad blocklist line(s):\n${shown.join('\n')}${more}`);
  }
  return { blocklist, files: counts, bad };
}

export function formatBadLine(b: BadLine): string {
  return `${b.file}:${b.line}: ${b.reason}: ${JSON.stringify(b.text)}`;
}
