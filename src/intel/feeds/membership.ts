/**
 * FeedMembership (model/intel.ts) over the loaded feeds: which entries of which feeds cover an address,
 * with the line each came from, for reputation and `portwarden lookup`. Never on the packet path (the
 * kernel matches packets): an index per feed copy, built on the first question about it, answers with
 * one map probe per prefix length the feed uses. Membership is what the feed lists, before the
 * protected ranges are subtracted: `lookup` can then say "listed by X, but protected".
 */
import { parseNetworkInto } from '../../net/address-set.js';
import type { FeedMatch, FeedMembership } from '../../model/intel.js';
import type { FeedEntries } from './entries.js';
import type { ResolvedFeed } from '../settings.js';

/** What membership needs of one feed: its settings and the copy in force. */
export interface MemberSource {
  readonly feed: ResolvedFeed;
  readonly entries: FeedEntries | null;
}

type Key = number | string;

interface Index {
  /** Per prefix length present, longest first: masked network → entry indexes. */
  v4: [number, Map<Key, number[]>][];
  v6: [number, Map<Key, number[]>][];
}

const indexes = new WeakMap<FeedEntries, Index>();

function v4Mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** IPv6 key: the masked address as hex words (cold path: built once per entry, once per question). */
function v6Key(w0: number, w1: number, w2: number, w3: number, length: number): string {
  const words = [w0, w1, w2, w3];
  for (let i = 0; i < 4; i++) {
    const keep = length - 32 * i;
    words[i] = keep <= 0 ? 0 : keep >= 32 ? words[i] : (words[i] & (0xffffffff << (32 - keep))) >>> 0;
  }
  return words.map((w) => w.toString(16)).join(':');
}

function buildIndex(e: FeedEntries): Index {
  const v4 = new Map<number, Map<Key, number[]>>();
  for (let i = 0; i < e.v4Count; i++) {
    const length = e.v4Length[i];
    let m = v4.get(length);
    if (m === undefined) v4.set(length, (m = new Map()));
    const key = e.v4Start[i];
    const list = m.get(key);
    if (list === undefined) m.set(key, [i]);
    else list.push(i);
  }
  const v6 = new Map<number, Map<Key, number[]>>();
  const w = e.v6Words;
  for (let i = 0; i < e.v6Count; i++) {
    const length = e.v6Length[i];
    let m = v6.get(length);
    if (m === undefined) v6.set(length, (m = new Map()));
    const key = v6Key(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3], length);
    const list = m.get(key);
    if (list === undefined) m.set(key, [i]);
    else list.push(i);
  }
  const sorted = (m: Map<number, Map<Key, number[]>>) => [...m.entries()].sort((a, b) => b[0] - a[0]);
  return { v4: sorted(v4), v6: sorted(v6) };
}

/** The entries of one feed copy that cover `address`, most specific first. */
export function matchingEntries(entries: FeedEntries, address: string): { entry: string; line: number }[] {
  const words = new Uint32Array(4);
  const r = parseNetworkInto(address, words);
  if (typeof r === 'string') return [];
  let index = indexes.get(entries);
  if (index === undefined) indexes.set(entries, (index = buildIndex(entries)));
  const out: { entry: string; line: number }[] = [];
  if (r >> 8 === 4) {
    for (const [length, m] of index.v4) {
      for (const i of m.get((words[3] & v4Mask(length)) >>> 0) ?? []) out.push({ entry: entries.text(4, i), line: entries.v4Line[i] });
    }
  } else {
    for (const [length, m] of index.v6) {
      for (const i of m.get(v6Key(words[0], words[1], words[2], words[3], length)) ?? []) out.push({ entry: entries.text(6, i), line: entries.v6Line[i] });
    }
  }
  return out;
}

/**
 * The factory other stages wire: membership over whatever copies the feeds hold when asked (an update
 * replaces a copy; the next question indexes the new one). A string that is not one address matches nothing.
 */
export function feedMembership(sources: () => readonly MemberSource[]): FeedMembership {
  return {
    feedsOf(address: string): FeedMatch[] {
      const out: FeedMatch[] = [];
      for (const s of sources()) {
        if (s.entries === null) continue;
        for (const m of matchingEntries(s.entries, address)) out.push({ feed: s.feed.name, entry: m.entry, line: m.line, action: s.feed.action, weight: s.feed.weight });
      }
      return out;
    },
  };
}
