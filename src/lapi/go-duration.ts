/**
 * Go's `time.Duration.String()` form, which CrowdSec's LAPI puts in every decision's `duration`
 * ("3h59m58.528516s", "1m0s", "532ms", "-2.5s") and bouncers read back with `time.ParseDuration`.
 * The rules (Go's src/time/time.go): under a second, one unit (ns, µs, ms) with a trimmed fraction;
 * from a second up, h and m are whole, seconds carry up to nine fraction digits with trailing zeros
 * trimmed, and leading zero units are left out ("1m0s", never "0h1m0s"); zero is "0s".
 */

/** Go's form of `ms` milliseconds (fractions allowed, kept to the nanosecond). */
export function goDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`goDuration: ${ms} is not a finite number of milliseconds`);
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  // Whole seconds and the nanoseconds beyond them, kept apart: ms * 1e6 loses digits past 2^53 ns (104 days).
  let seconds = Math.floor(abs / 1000);
  let nanos = Math.round((abs - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  if (seconds === 0) return nanos === 0 ? '0s' : sign + subSecond(nanos);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const secs = `${s}${fraction(nanos, 9)}s`;
  if (h > 0) return `${sign}${h}h${m}m${secs}`;
  if (m > 0) return `${sign}${m}m${secs}`;
  return sign + secs;
}

/** Under a second: the largest unit that fits, with its fraction (Go: "1.5ms", "999.999999ms", "500µs", "7ns"). */
function subSecond(nanos: number): string {
  if (nanos < 1e3) return `${nanos}ns`;
  if (nanos < 1e6) return `${Math.floor(nanos / 1e3)}${fraction(nanos % 1e3, 3)}µs`;
  return `${Math.floor(nanos / 1e6)}${fraction(nanos % 1e6, 6)}ms`;
}

/** `.ddd` of `value` with `digits` places, trailing zeros trimmed; '' for zero. */
function fraction(value: number, digits: number): string {
  if (value === 0) return '';
  return `.${String(value).padStart(digits, '0').replace(/0+$/, '')}`;
}

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's `time.ParseDuration`, to milliseconds ("3h59m58.5s" → 14398500); null when it is not one. Kept
 * beside the formatter so the tests can check that a round trip gives the same value.
 */
export function parseGoDuration(text: string): number | null {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (m === null) return text === '0' ? 0 : null;
  let total = 0;
  for (const part of text.slice(m[1].length).matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * UNIT_MS[part[2]];
  return m[1] === '-' ? -total : total;
}
