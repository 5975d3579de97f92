/**
 * Lengths and moments as operators read them: `4d 5h`, `2026-12-06 14:03 UTC`. Every message, list, alert and
 * report that states how long a ban lasts or when it ends goes through these, so none rounds 4.2 days to "1 d".
 */

/** Exported for the dashboard page, which runs humanDuration itself (src/observe/dashboard/script.ts). */
export const UNITS: readonly [string, number][] = [
  ['y', 365 * 86_400],
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
];

/**
 * The two largest non-zero units, truncated: 365,574 s → `4d 5h`; 90 s → `1m 30s`; 0 → `0s`. null (no expiry)
 * → `permanent`. Truncation, not rounding, so a length is never stated longer than it is.
 */
export function humanDuration(seconds: number | null): string {
  if (seconds === null) return 'permanent';
  const total = Math.max(0, Math.floor(seconds));
  const first = UNITS.findIndex(([, size]) => total >= size);
  if (first < 0) return '0s';
  const [unit, size] = UNITS[first];
  const parts = [`${Math.floor(total / size)}${unit}`];
  const next = UNITS[first + 1];
  if (next !== undefined) {
    const n = Math.floor((total % size) / next[1]);
    if (n > 0) parts.push(`${n}${next[0]}`);
  }
  return parts.join(' ');
}

/** A wall-clock moment in UTC to the minute: `2026-12-06 14:03 UTC`; null → `never`. */
export function utcMinute(ms: number | null): string {
  if (ms === null) return 'never';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'invalid time';
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/**
 * Seconds of a duration written as operators write them in rule and playbook files: `90s`, `10m`, `2h`,
 * `1d`, `1h30m`, or a bare number of seconds. null when the text is no such duration.
 */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : null;
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]] ?? 0);
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : null;
}
