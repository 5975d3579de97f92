import { PortwardenError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9717` or `[::1]:9717` (the schema's form) into host and port; null for anything else. */
export function splitListen(text: string): ListenAddress | null {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:.]+)\]):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2], port };
}

/**
 * `--metrics-listen`: host:port, or `off` for no listener.
 * @throws PortwardenError PW_ERR_USAGE naming the option.
 */
export function parseListen(text: string): string | null {
  if (text === 'off') return null;
  if (splitListen(text) === null) throw new PortwardenError('PW_ERR_USAGE', `--metrics-listen ${JSON.stringify(text)}: expected host:port with an IP address (127.0.0.1:9717, [::1]:9717) or off`);
  return text;
}
