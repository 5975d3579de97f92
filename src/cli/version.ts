import { readFileSync } from 'node:fs';

/** The package version, found from src/cli (tsx) or dist/src/cli (built). */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'portwarden') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}
