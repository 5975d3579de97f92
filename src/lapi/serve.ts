/**
 * The daemon's side of the decision stream: serves it when `lapi.listen` is set. Like the observe
 * listener, it cannot stop the daemon: an address that cannot be bound or an unreadable key file is
 * logged (PW_ERR_LAPI) and the host stays protected; bouncers then keep what they hold until it expires.
 */
import { PortwardenError } from '../errors.js';
import type { EventLogger } from '../model/logger.js';
import { LapiServer, type LapiBook } from './server.js';
import type { LapiSettings } from './settings.js';

export async function serveDecisions(settings: LapiSettings, book: LapiBook, log: EventLogger): Promise<LapiServer | null> {
  const { listen } = settings;
  if (listen === null) return null;
  try {
    const server = await LapiServer.listen({ settings: { ...settings, listen }, book, log });
    log.info(
      { 'event.action': 'lapi-listening', 'url.full': `http://${server.listening}/`, 'lapi.bouncers': settings.keys.map((k) => k.name) },
      `CrowdSec decision stream at http://${server.listening}/v1/decisions/stream for ${settings.keys.length} bouncer(s): ${settings.keys.map((k) => k.name).join(', ')}`,
    );
    return server;
  } catch (err) {
    const code = err instanceof PortwardenError ? err.code : 'PW_ERR_LAPI';
    log.error({ 'event.action': 'lapi-listen-failed', code, error: err instanceof Error ? err.message : String(err) }, 'no CrowdSec decision stream: the lapi listener failed; protection goes on');
    return null;
  }
}
