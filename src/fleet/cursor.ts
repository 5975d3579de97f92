/**
 * The last KV revision this host applied and committed, kept in the state directory (`fleet.cursor`)
 * so a restarted daemon resumes the watch there instead of reading every ban again. Written with a
 * rename, after the bans it covers are committed: a crash leaves an older cursor (bans read twice,
 * harmless), never a newer one (bans lost).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class FleetCursor {
  readonly #file: string;

  constructor(stateDir: string, bucket: string) {
    this.#file = join(stateDir, `fleet-${bucket}.cursor`);
  }

  /** The saved revision and the stream it belongs to, or null. */
  read(): { revision: number; stream: string } | null {
    try {
      const v = JSON.parse(readFileSync(this.#file, 'utf8')) as { revision?: unknown; stream?: unknown };
      return typeof v.revision === 'number' && typeof v.stream === 'string' ? { revision: v.revision, stream: v.stream } : null;
    } catch {
      return null;
    }
  }

  write(revision: number, stream: string): void {
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ revision, stream }), { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}
