import { readFileSync } from 'node:fs';

/**
 * The interface of the default IPv4 route (/proc/net/route): what the daemon watches by default. With
 * no default route: [] (every interface but loopback).
 */
export function defaultRouteInterface(routes = '/proc/net/route'): string[] {
  const lines = readFileSync(routes, 'utf8').split('\n').slice(1);
  for (const line of lines) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (destination === '00000000' && mask === '00000000' && iface !== undefined) return [iface];
  }
  return [];
}
