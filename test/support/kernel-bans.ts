import type { NetnsPair } from './testkit-netns.js';

/** The protected namespace's ban4 set: address → the timeout its element was added with (seconds; null: none). */
export function kernelBans(pair: NetnsPair): Map<string, number | null> {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const bans = new Map<string, number | null>();
  for (const e of json.nftables.find((x) => x.set !== undefined)?.set?.elem ?? []) {
    if (typeof e === 'string') bans.set(e, null);
    else {
      const el = (e as { elem: { val: string; timeout?: number } }).elem;
      bans.set(String(el.val), el.timeout ?? null);
    }
  }
  return bans;
}
