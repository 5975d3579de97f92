/**
 * Feed parsers, one per format, all strict: every line that is neither a comment nor an address or
 * network is counted with its line number, and the feed as a whole is refused when most of its lines
 * are bad, when it is an HTML page (a captive portal, an error page served with 200), or when a format
 * that says how long it is (Spamhaus JSON's metadata line) was cut short. A refused feed never replaces
 * the last good copy; see FeedUpdater.
 *
 * Line numbers are 1-based lines of the file; for crowdsec (one JSON document) the element's number in
 * the `new` list.
 */
import { PortwardenError } from '../../errors.js';
import { parseNetworkInto } from '../../net/address-set.js';
import type { FeedFormat } from '../settings.js';
import { FeedEntries } from './entries.js';

export interface BadLine {
  line: number;
  text: string;
  reason: string;
}

export interface ParsedFeed {
  entries: FeedEntries;
  /** Lines (or list elements) that should have held an entry: the good ones and the bad ones. */
  candidates: number;
  /** How many candidates were bad. */
  badCount: number;
  /** The first bad ones (at most MAX_BAD_KEPT), for the log and `portwarden feeds`. */
  bad: BadLine[];
  /** Candidates knowingly skipped (crowdsec decisions of another scope or type). */
  skipped: number;
}

const MAX_BAD_KEPT = 20;

function feedError(name: string, message: string): PortwardenError {
  return new PortwardenError('PW_ERR_FEED', `feed ${name}: ${message}`);
}

class Collector {
  readonly entries: FeedEntries;

  constructor(capacity: number) {
    this.entries = new FeedEntries(capacity);
  }

  readonly words = new Uint32Array(4);
  candidates = 0;
  badCount = 0;
  skipped = 0;
  readonly bad: BadLine[] = [];

  /** One address or network token from `line`; counts it good or bad. */
  add(token: string, line: number): void {
    this.candidates++;
    const r = parseNetworkInto(token, this.words);
    if (typeof r === 'string') {
      this.reject(line, token, r);
      return;
    }
    this.entries.push((r >> 8) as 4 | 6, this.words, r & 255, line);
  }

  /**
   * The common case without a string per line: a canonical dotted quad (no leading zeros), optionally
   * with a prefix length, host bits clear, read straight from the body. Anything else returns false
   * and takes the general path (which also words the error): a million short-lived strings were what
   * grew the young generation, and with it the RSS, of a large load.
   */
  addPlainV4(body: string, from: number, to: number, line: number): boolean {
    let value = 0;
    let i = from;
    for (let octet = 0; octet < 4; octet++) {
      if (octet > 0) {
        if (i >= to || body.charCodeAt(i) !== 46) return false;
        i++;
      }
      const digits = i;
      let v = 0;
      while (i < to && i - digits < 4) {
        const d = body.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        i++;
      }
      const count = i - digits;
      if (count === 0 || count > 3 || v > 255 || (count > 1 && body.charCodeAt(digits) === 48)) return false;
      value = value * 256 + v;
    }
    let length = 32;
    if (i < to) {
      if (body.charCodeAt(i) !== 47) return false;
      const digits = ++i;
      length = 0;
      while (i < to) {
        const d = body.charCodeAt(i) - 48;
        if (d < 0 || d > 9) return false;
        length = length * 10 + d;
        i++;
      }
      const count = i - digits;
      if (count === 0 || count > 2 || length > 32 || (count > 1 && body.charCodeAt(digits) === 48)) return false;
    }
    if (length < 32 && value % 2 ** (32 - length) !== 0) return false; // host bits set: the general path says so
    this.candidates++;
    this.words[0] = 0;
    this.words[1] = 0;
    this.words[2] = 0;
    this.words[3] = value;
    this.entries.push(4, this.words, length, line);
    return true;
  }

  reject(line: number, text: string, reason: string): void {
    this.badCount++;
    if (this.bad.length < MAX_BAD_KEPT) this.bad.push({ line, text: text.length > 80 ? `${text.slice(0, 80)}…` : text, reason });
  }

  result(): ParsedFeed {
    return { entries: this.entries, candidates: this.candidates, badCount: this.badCount, bad: this.bad, skipped: this.skipped };
  }
}

/** Lines in the body: at most one entry each (JSON lists may hold more; the columns grow then). */
function lineCount(body: string): number {
  let n = 1;
  for (let at = body.indexOf('\n'); at !== -1; at = body.indexOf('\n', at + 1)) n++;
  return n;
}

/** Calls `each(line, number)` for every line (CRLF or LF), without splitting the whole body into an array. */
function forEachLine(body: string, each: (line: string, number: number) => void): void {
  let start = 0;
  let number = 0;
  while (start < body.length) {
    let end = body.indexOf('\n', start);
    if (end === -1) end = body.length;
    number++;
    const stop = end > start && body.charCodeAt(end - 1) === 13 ? end - 1 : end;
    each(body.slice(start, stop), number);
    start = end + 1;
  }
}

/**
 * One address or network per line (its first field); `#` and `;` start comments. FireHOL netset, ET,
 * blocklist.de, AbuseIPDB plain text. One pass over the body without slicing lines: the hot loop of a
 * million-line feed.
 */
function parseLines(c: Collector, body: string): void {
  const n = body.length;
  let i = 0;
  let number = 0;
  while (i < n) {
    number++;
    // skip blanks at the start of the line
    let ch = body.charCodeAt(i);
    while (i < n && (ch === 32 || ch === 9)) ch = body.charCodeAt(++i);
    const start = i;
    while (i < n && ch !== 10 && ch !== 13 && ch !== 32 && ch !== 9 && ch !== 35 && ch !== 59) ch = body.charCodeAt(++i);
    if (i > start && !c.addPlainV4(body, start, i, number)) c.add(body.slice(start, i), number);
    const eol = body.indexOf('\n', i);
    i = eol === -1 ? n : eol + 1;
  }
}

/** Spamhaus drop.txt: `CIDR ; SBLnnn`, `;` comments. */
function parseSpamhausTxt(c: Collector, body: string): void {
  forEachLine(body, (line, number) => {
    const semi = line.indexOf(';');
    const token = (semi === -1 ? line : line.slice(0, semi)).trim();
    if (token === '') return;
    if (/\s/.test(token)) c.reject(number, line, 'more than one field before the ";"');
    else c.add(token, number);
  });
}

/**
 * Spamhaus drop_v4.json / drop_v6.json: NDJSON of `{"cidr","sblid","rir"}` and a final
 * `{"type":"metadata",…}` line. No metadata line means the file was cut short: refused.
 */
function parseSpamhausJson(c: Collector, body: string, name: string): void {
  let metadata: Record<string, unknown> | null = null;
  forEachLine(body, (line, number) => {
    const text = line.trim();
    if (text === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      c.candidates++;
      c.reject(number, text, 'not a JSON line');
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      c.candidates++;
      c.reject(number, text, 'not a JSON object');
      return;
    }
    const record = value as Record<string, unknown>;
    if (record.type === 'metadata') {
      metadata = record;
      return;
    }
    if (metadata !== null) {
      c.candidates++;
      c.reject(number, text, 'a record after the metadata line');
      return;
    }
    if (typeof record.cidr !== 'string') {
      c.candidates++;
      c.reject(number, text, 'no "cidr" string');
      return;
    }
    c.add(record.cidr, number);
  });
  if (metadata === null) throw feedError(name, 'the Spamhaus JSON has no metadata line at its end: the file was cut short');
  const records = (metadata as Record<string, unknown>).records;
  if (typeof records === 'number' && records !== c.candidates) {
    throw feedError(name, `the Spamhaus metadata line says ${records} records, the file has ${c.candidates}: the file is incomplete`);
  }
}

/** Tor: the bulk exit list (one address a line) or the exit-addresses document (`ExitAddress ADDR date`). */
function parseTorExit(c: Collector, body: string): void {
  forEachLine(body, (line, number) => {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) return;
    const fields = text.split(/\s+/);
    if (fields[0] === 'ExitAddress') c.add(fields[1] ?? '', number);
    else if (['ExitNode', 'Published', 'LastStatus'].includes(fields[0])) return;
    else c.add(fields[0], number);
  });
}

/** CrowdSec LAPI `GET /v1/decisions/stream?startup=true`: `{"new":[{scope,value,type}…]|null,"deleted":…}`; bans of scope Ip or Range. */
function parseCrowdsec(c: Collector, body: string, name: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw feedError(name, `the CrowdSec decision stream is not JSON (${(err as Error).message}): cut short or not a LAPI`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('new' in doc)) {
    throw feedError(name, 'the CrowdSec decision stream is not an object with a "new" list');
  }
  const list = (doc as { new: unknown }).new;
  if (list === null) return; // no active decision
  if (!Array.isArray(list)) throw feedError(name, '"new" is neither a list nor null');
  list.forEach((d: unknown, i) => {
    const number = i + 1;
    const decision = (typeof d === 'object' && d !== null ? d : {}) as { scope?: unknown; value?: unknown; type?: unknown };
    const scope = typeof decision.scope === 'string' ? decision.scope.toLowerCase() : '';
    if (scope !== 'ip' && scope !== 'range') {
      if (typeof decision.scope === 'string') c.skipped++;
      else {
        c.candidates++;
        c.reject(number, JSON.stringify(d), 'no "scope"');
      }
      return;
    }
    if (decision.type !== undefined && decision.type !== 'ban') {
      c.skipped++;
      return;
    }
    if (typeof decision.value !== 'string') {
      c.candidates++;
      c.reject(number, JSON.stringify(d), 'no "value" string');
      return;
    }
    c.add(decision.value, number);
  });
}

/**
 * Parses a feed body. Throws PW_ERR_FEED when the feed as a whole is refused (an HTML page, most
 * lines bad, a JSON format cut short); otherwise the entries and the bad lines.
 */
export function parseFeed(name: string, format: FeedFormat, body: string): ParsedFeed {
  const head = body.slice(0, 512).trimStart().toLowerCase();
  if (head.startsWith('<!doctype') || head.startsWith('<html') || head.startsWith('<?xml') || head.startsWith('<head')) {
    throw feedError(name, 'the body is an HTML or XML page (an error page or a portal), not a feed');
  }
  const c = new Collector(lineCount(body));
  switch (format) {
    case 'netset':
    case 'plain':
    case 'tor-exit':
      if (format === 'tor-exit') parseTorExit(c, body);
      else parseLines(c, body);
      break;
    case 'abuseipdb':
      if (head.startsWith('{')) throw feedError(name, `AbuseIPDB answered JSON, not the plain-text list (an error?): ${body.slice(0, 200)}`);
      parseLines(c, body);
      break;
    case 'spamhaus-txt':
      parseSpamhausTxt(c, body);
      break;
    case 'spamhaus-json':
      parseSpamhausJson(c, body, name);
      break;
    case 'crowdsec':
      parseCrowdsec(c, body, name);
      break;
  }
  const result = c.result();
  if (result.badCount > 0 && result.badCount * 2 > result.candidates) {
    const first = result.bad[0];
    throw feedError(name, `${result.badCount} of ${result.candidates} lines are bad (first: line ${first.line} ${JSON.stringify(first.text)}: ${first.reason}): not a ${format} feed`);
  }
  return result;
}

/**
 * Whether a new copy shrank past the feed's limit: refused when it keeps fewer than (1 - maxShrink) of
 * the last good copy's entries (maxShrink 1 accepts anything, even empty).
 */
export function shrinkProblem(previous: number, next: number, maxShrink: number): string | null {
  if (previous === 0 || maxShrink >= 1) return null;
  if (next >= previous * (1 - maxShrink)) return null;
  return `the new copy has ${next} entries, the last good one ${previous}: it shrank by ${(100 * (1 - next / previous)).toFixed(1)}%, more than maxShrink ${maxShrink}`;
}
