import { defaultConfig, loadConfigFile, type PortwardenConfig } from '../config/load.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../observe/log.js';
import { parseListen } from '../observe/listen-address.js';
import type { Output } from './analyze.js';
import { nonEmpty } from './control-commands.js';
import { packageVersion } from './version.js';

export interface StartOptions {
  config?: string;
  /** Overrides capture.method. */
  capture?: 'nflog' | 'pcap';
  interface: string[];
  dryRun: boolean;
  flushOnExit: boolean;
  socket?: string;
  state?: string;
  /** host:port for /metrics, /health and the dashboard (observe.listen). */
  metricsListen?: string;
  /** Blocklist files for inline DNS filtering (turns inline mode on). */
  dnsBlocklist?: string[];
}

/**
 * `portwarden start`: runs until SIGTERM or SIGINT; SIGHUP reloads the config file. Resolves with the exit status.
 * `started` is called once the daemon runs.
 */
export async function runStart(given: StartOptions, io: Output, started: () => void = () => {}): Promise<number> {
  // The environment names the paths a service manager or a shell profile sets once; options still win.
  const options: StartOptions = {
    ...given,
    config: given.config ?? nonEmpty(process.env.PORTWARDEN_CONFIG),
    socket: given.socket ?? nonEmpty(process.env.PORTWARDEN_SOCKET),
    state: given.state ?? nonEmpty(process.env.PORTWARDEN_STATE),
  };
  // Command-line options win over the file, at start and at every reload.
  const overrides = (c: PortwardenConfig): PortwardenConfig => {
    let config = c;
    if (options.interface.length > 0) config = { ...config, capture: { ...config.capture, interfaces: options.interface } };
    if (options.capture !== undefined) config = { ...config, capture: { ...config.capture, method: options.capture } };
    if (options.socket !== undefined) config = { ...config, control: { socketPath: options.socket } };
    if (options.state !== undefined) config = { ...config, state: { ...config.state, dir: options.state } };
    if (options.metricsListen !== undefined) config = { ...config, observe: { ...config.observe, listen: parseListen(options.metricsListen) } };
    // A quick run without a config file: inline mode with DNS filtering on these lists.
    if (options.dnsBlocklist !== undefined && options.dnsBlocklist.length > 0) config = { ...config, inline: { ...config.inline, enabled: true, dns: true }, dns: { ...config.dns, blocklists: [...config.dns.blocklists, ...options.dnsBlocklist] } };
    return config;
  };
  const config = overrides(options.config !== undefined ? loadConfigFile(options.config) : defaultConfig());
  const logger = createLogger();
  const daemon = await Daemon.start({ config, configPath: options.config, overrides, dryRun: options.dryRun, flushOnExit: options.flushOnExit, logger, version: packageVersion() });
  started();
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ 'event.action': 'signal', signal }, `${signal}: stopping`);
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          io.err(`portwarden: stopping failed: ${err instanceof Error ? err.message : String(err)}`);
          resolve(2);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      // An invalid file is refused and logged by reload; the running config stays.
      daemon.reload().catch(() => undefined);
    });
  });
}
