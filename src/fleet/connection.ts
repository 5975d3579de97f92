/**
 * NATS connection options from the fleet settings: servers, credentials (user/password, an nkey seed
 * file or a creds file), TLS files, and reconnecting for ever with backoff, also when NATS is down at
 * start (the daemon enforces locally meanwhile). Files are read here, so a missing one is a clear
 * PW_ERR_FLEET naming it, at start.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { PortwardenError } from '../errors.js';
import type { FleetSettings } from './settings.js';

function readFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PortwardenError('PW_ERR_FLEET', `${file}: cannot read the fleet ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** First wait between reconnects; NATS's client adds jitter. */
export const RECONNECT_WAIT_MS = 500;

export function connectOptions(s: FleetSettings, host: string): NodeConnectionOptions {
  const o: NodeConnectionOptions = {
    servers: [...s.servers],
    name: `portwarden-${host}`,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_WAIT_MS,
    pingInterval: 5_000,
    maxPingOut: 2,
  };
  if (s.auth.user !== undefined) {
    o.user = s.auth.user;
    o.pass = s.auth.password;
  }
  if (s.auth.nkeySeedFile !== undefined) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(readFile(s.auth.nkeySeedFile, 'nkey seed')).trim()));
  if (s.auth.credsFile !== undefined) o.authenticator = credsAuthenticator(readFile(s.auth.credsFile, 'credentials'));
  if (s.tls.ca !== undefined || s.tls.cert !== undefined || s.tls.key !== undefined) {
    for (const [file, what] of [[s.tls.ca, 'TLS CA'], [s.tls.cert, 'TLS certificate'], [s.tls.key, 'TLS key']] as const) if (file !== undefined) readFile(file, what);
    o.tls = { caFile: s.tls.ca, certFile: s.tls.cert, keyFile: s.tls.key };
  }
  return o;
}
