/**
 * The last good copy of each feed on disk (`<state dir>/feeds/<name>.body` and `.meta.json`): loaded at
 * start before any network fetch, so a restart enforces at once and a source that is down at boot
 * changes nothing. Written only after a copy was parsed and accepted, through a temporary file and a
 * rename: a crash mid-write leaves the previous copy.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Validators } from './fetch.js';

export interface StoredMeta {
  validators: Validators;
  /** Wall-clock ms of the fetch that brought (or confirmed, 304) this copy. */
  fetchedAtMs: number;
  entries: number;
}

export class FeedStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'feeds');
  }

  /** The stored copy, or null when there is none (or it cannot be read: then the network decides). */
  load(name: string): { body: string; meta: StoredMeta } | null {
    try {
      const meta = JSON.parse(readFileSync(join(this.dir, `${name}.meta.json`), 'utf8')) as StoredMeta;
      const body = readFileSync(join(this.dir, `${name}.body`), 'utf8');
      return { body, meta };
    } catch {
      return null;
    }
  }

  save(name: string, body: string | null, meta: StoredMeta): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (body !== null) atomicWrite(join(this.dir, `${name}.body`), body);
    atomicWrite(join(this.dir, `${name}.meta.json`), JSON.stringify(meta));
  }
}

function atomicWrite(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}
