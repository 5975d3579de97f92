/**
 * Each host's ed25519 signing key (node:crypto): made at first start into `fleet.keyFile` (0600), its
 * public half given to the other hosts as one base64 line in their `trustedKeys`. Keys are kept as the
 * raw 32 bytes (base64) so the line an operator copies is short and the same in every file.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortwardenError } from '../errors.js';

/** DER prefixes of an ed25519 key's PKCS#8 (private) and SPKI (public) encodings; the raw 32 bytes follow. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** The public half as `trustedKeys` takes it: raw 32 bytes, base64. */
  readonly publicKey: string;
  /** The public half as a key object, to verify this host's own messages. */
  readonly publicObject: KeyObject;
}

export function publicKeyObject(base64: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(base64, 'base64')]), format: 'der', type: 'spki' });
}

/** A short fingerprint of a public key for status lines: sha256, first 16 hex digits. */
export function fingerprint(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);
}

function fromSeed(seed: Buffer): SigningKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicObject = createPublicKey(privateKey);
  const spki = publicObject.export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey: spki.subarray(SPKI_PREFIX.length).toString('base64'), publicObject };
}

/** A new key: its seed file text (one base64 line) and the key. */
export function generateKey(): { fileText: string; key: SigningKey } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { fileText: `${seed.toString('base64')}\n`, key: fromSeed(seed) };
}

/** Writes a new key to `file` (0600, refusing to overwrite one); returns it. */
export function writeNewKey(file: string): SigningKey {
  if (existsSync(file)) throw new PortwardenError('PW_ERR_USAGE', `${file}: a key file is already there; refusing to overwrite it`);
  const { fileText, key } = generateKey();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, fileText, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

/** Reads the key in `file`. Throws PW_ERR_CONFIG naming the file when it is not one. */
export function readKey(file: string): SigningKey {
  let seed: Buffer;
  try {
    seed = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    throw new PortwardenError('PW_ERR_FLEET', `${file}: cannot read the fleet key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (seed.length !== 32) throw new PortwardenError('PW_ERR_FLEET', `${file}: not a fleet key (one base64 line of a 32-byte ed25519 seed, as portwarden fleet keygen writes)`);
  return fromSeed(seed);
}

/** The key in `file`, made there first when the file does not exist (first start). */
export function loadOrCreateKey(file: string): { key: SigningKey; created: boolean } {
  if (existsSync(file)) return { key: readKey(file), created: false };
  return { key: writeNewKey(file), created: true };
}

export function signBytes(key: SigningKey, bytes: Uint8Array): string {
  return sign(null, bytes, key.privateKey).toString('base64');
}

export function verifyBytes(publicKey: KeyObject, bytes: Uint8Array, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64) return false;
  return verify(null, bytes, publicKey, sig);
}
