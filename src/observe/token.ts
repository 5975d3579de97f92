import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TOKEN_FILE = 'dashboard.token';

/**
 * The token dashboard actions need. A configured one is used as is; otherwise the one in
 * `<stateDir>/dashboard.token`, created (32 random bytes, mode 0600, never overwritten) on first start,
 * so it stays the same across restarts and only root (the state dir is 0700) can read it.
 */
export function dashboardToken(configured: string | null, stateDir: string): { token: string; file: string | null } {
  if (configured !== null) return { token: configured, file: null };
  const file = join(stateDir, TOKEN_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 16) return { token: existing, file };
  } catch {
    // first start: created below
  }
  const token = randomBytes(32).toString('base64url');
  // 'w' replaces an empty or short file; mode applies when the file is created.
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file };
}

/** Constant-time comparison, so the answer's timing tells nothing about how much of a guess was right. */
export function tokenMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
