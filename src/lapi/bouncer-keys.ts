/**
 * The bouncers' keys, as the server checks them: each key's SHA-256 → the bouncer's name. A request's
 * X-Api-Key is hashed and looked up, so no key is compared byte by byte (the LAPI does the same with
 * SHA-512) and the keys themselves are not kept after start.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PortwardenError } from '../errors.js';
import type { Serving } from './decision-stream.js';
import type { BouncerKeySettings } from './settings.js';

const MIN_KEY_CHARS = 16;

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class BouncerKeys {
  readonly #byDigest = new Map<string, string>();
  /** Every bouncer's name, in the config's order. */
  readonly names: readonly string[];
  /** Bouncer name → the longest duration it is told (ms; null: no cap) and how networks are sent to it. */
  readonly #serving = new Map<string, Omit<Serving, 'filter'>>();

  /** @throws PortwardenError PW_ERR_LAPI when a keyFile cannot be read or holds no key of 16 characters or more. */
  constructor(keys: readonly BouncerKeySettings[]) {
    keys.forEach((k, i) => this.#byDigest.set(digest(k.key ?? readKeyFile(k.keyFile ?? '', `lapi.keys[${i}].keyFile`)), k.name));
    this.names = keys.map((k) => k.name);
    for (const k of keys) this.#serving.set(k.name, { maxMs: k.maxDurationSeconds === null ? null : k.maxDurationSeconds * 1000, ranges: k.ranges });
  }

  /** How `bouncer` is served: the longest duration it is told (ms; null: no cap), networks as ranges or addresses. */
  serving(bouncer: string): Omit<Serving, 'filter'> {
    return this.#serving.get(bouncer) ?? { maxMs: null, ranges: 'range' };
  }

  /** The bouncer a key belongs to; null for a missing or unknown key. */
  bouncer(key: string | undefined): string | null {
    if (key === undefined || key === '') return null;
    return this.#byDigest.get(digest(key)) ?? null;
  }
}

/** The first line of `file`, trimmed. */
function readKeyFile(file: string, field: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PortwardenError('PW_ERR_LAPI', `${field}: ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const key = (text.split('\n')[0] ?? '').trim();
  if (key.length < MIN_KEY_CHARS) throw new PortwardenError('PW_ERR_LAPI', `${field}: ${file}: its first line must be the key, at least ${MIN_KEY_CHARS} characters (it has ${key.length})`);
  return key;
}
