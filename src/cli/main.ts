import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { PortwardenError } from '../errors.js';
import type { Output } from './analyze.js';
import { packageVersion } from './version.js';

function parseProfile(value: string): ProfileName {
  if ((PROFILE_NAMES as readonly string[]).includes(value)) return value as ProfileName;
  throw new InvalidArgumentError(`choose one of ${PROFILE_NAMES.join(', ')}`);
}

// A reader that stops early (`| head`) closes the pipe: stop quietly with the status so far, as Unix
// tools do, instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

const defaultOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  errIsTerminal: process.stderr.isTTY === true,
};

/**
 * The command tree: every command, argument and option with its help text. `main` runs it; the man page and the
 * shell completions are generated from it (scripts/manpage.ts, scripts/completion.ts). Each action imports the
 * module it needs when it runs, so a control verb loads neither the daemon, SQLite nor the config parser.
 */
export function buildProgram(io: Output, setStatus: (status: number) => void): Command {
  const program = new Command('portwarden')
    .description('Dynamic firewall and network intrusion detection: finds scans, sweeps and floods, and bans their sources.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('analyze')
    .description('analyse capture files (pcap, pcapng) and report incidents; exit 0 none, 1 incidents, 2 error')
    .argument('<file...>', 'capture files, read in order as one capture; - reads standard input')
    .option('--json', 'one incident per line as JSON (summary on stderr)', false)
    .option('--profile <name>', `detection profile: ${PROFILE_NAMES.join(', ')}`, parseProfile)
    .option('--config <file>', 'YAML config file')
    .action(async (files: string[], opts: { json: boolean; profile?: ProfileName; config?: string }) => {
      const { runAnalyze } = await import('./analyze.js');
      setStatus(await runAnalyze(files, opts, io));
    });

  program
    .command('start')
    .description('run the daemon: capture, detect, decide and ban in the kernel (nftables); SIGHUP reloads, SIGTERM/SIGINT stop')
    .option('--config <file>', 'YAML config file (default: built-in defaults)')
    .option('--capture <method>', 'nflog (default: the kernel logs what detection needs) or pcap (libpcap, e.g. a mirror port)', (v: string) => {
      if (v !== 'nflog' && v !== 'pcap') throw new InvalidArgumentError('choose nflog or pcap');
      return v;
    })
    .option('--interface <name>', 'interface to watch (repeatable; default: the default route\'s)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--dry-run', 'decide and log, but put no ban into the kernel', false)
    .option('--flush-on-exit', 'remove the table and every ban when stopping (default: bans stay and expire by themselves)', false)
    .option('--socket <path>', 'control socket path (default: control.socketPath of the config)')
    .option('--state <dir>', 'state directory: what outlives the daemon (default: state.dir of the config, /var/lib/portwarden)')
    .option('--metrics-listen <host:port>', 'listener for /metrics, /health and the dashboard (default: observe.listen of the config, 127.0.0.1:9717)')
    .option('--dns-blocklist <file>', 'inline DNS filtering with this blocklist (repeatable; turns inline mode on; added to dns.blocklists)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(async (opts: { config?: string; capture?: 'nflog' | 'pcap'; interface: string[]; dryRun: boolean; flushOnExit: boolean; socket?: string; state?: string; metricsListen?: string; dnsBlocklist: string[] }) => {
      // Start-up (loading the modules, reading the config, building the detection tables) runs with V8
      // favouring memory over speed, which leaves the idle daemon ~10 MiB smaller (npm run bench -- cli);
      // once started, the packet path runs with V8's usual settings again.
      const v8 = await import('node:v8');
      v8.setFlagsFromString('--optimize-for-size');
      const { runStart } = await import('./daemon-commands.js');
      setStatus(await runStart(opts, io, () => v8.setFlagsFromString('--no-optimize-for-size')));
    });

  const control = (name: string, description: string, withTarget: boolean, configOption = true) => {
    const cmd = program.command(withTarget ? `${name} <target>` : name).description(description).option('--socket <path>', 'control socket path');
    return configOption ? cmd.option('--config <file>', 'config file naming the control socket') : cmd;
  };
  control('status', 'show the running daemon\'s state', false)
    .option('--json', 'as JSON', false)
    .action(async (opts: { socket?: string; config?: string; json: boolean }) => {
      setStatus(await (await import('./control-commands.js')).runControl('status', undefined, opts, io));
    });
  control('bans', 'list the bans in the kernel: address, origin, reason, created, expires, time left', false)
    .option('--json', 'one ban per line as JSON', false)
    .option('--origin <origin>', 'only bans of this origin: detection, operator or config')
    .option('--reason <text>', 'only bans whose reason contains this text (any case)')
    .option('--contains <address>', 'only bans that hold this address (the address itself or a network around it)')
    .action(async (opts: { socket?: string; config?: string; json: boolean; origin?: string; reason?: string; contains?: string }) => {
      setStatus(await (await import('./control-commands.js')).runControl('bans', undefined, opts, io));
    });
  control('ban', 'ban an address or network now (refused for protected addresses)', true)
    .option('--for <duration>', 'how long: 90s, 10m, 1h, 2d (default 1h; at most enforce.maxOperatorBanSeconds)')
    .option('--permanent', 'ban without end (until unban)', false)
    .option('--reason <text>', 'why, shown in bans and logs')
    .action(async (target: string, opts: { socket?: string; config?: string; for?: string; permanent: boolean; reason?: string }) => {
      setStatus(await (await import('./control-commands.js')).runControl('ban', target, opts, io));
    });
  program
    .command('unban [target]')
    .description('lift a ban now (an address inside a banned network names the network that still blocks it)')
    .option('--socket <path>', 'control socket path')
    .option('--config <file>', 'config file naming the control socket')
    .option('--all', 'lift every ban of this daemon (asks for --yes)', false)
    .option('--origin <origin>', 'with --all: only bans of this origin (detection, operator, config)')
    .option('--yes', 'with --all: really lift them (without it, says how many it would lift and exits 2)', false)
    .action(async (target: string | undefined, opts: { socket?: string; config?: string; all: boolean; origin?: string; yes: boolean }) => {
      setStatus(await (await import('./control-commands.js')).runControl('unban', target, opts, io));
    });
  control('allow', 'never ban this address or network (lifts its ban if any)', true)
    .option('--reason <text>', 'why')
    .action(async (target: string, opts: { socket?: string; config?: string; reason?: string }) => {
      setStatus(await (await import('./control-commands.js')).runControl('allow', target, opts, io));
    });
  control('lookup', 'everything known of an address: bans, feeds and the entry that matched, country and ASN, offences, reputation, whether it is protected and why', true)
    .option('--json', 'as JSON', false)
    .action(async (target: string, opts: { socket?: string; config?: string; json: boolean }) => {
      setStatus(await (await import('./lookup-command.js')).runLookup(target, opts, io));
    });
  // No --config here: the daemon re-reads the file it was started with, so a file named here would only pick
  // the socket, and read as "reload this file". --socket or PORTWARDEN_SOCKET / PORTWARDEN_CONFIG pick the daemon.
  control(
    'reload',
    're-read the config file the daemon was started with (as SIGHUP); an invalid file is refused and the old config kept; keys only a restart applies (control.socketPath, state.dir, capture, detection, enforce, observe, profile, feeds) are named and keep their running values',
    false,
    false,
  ).action(async (opts: { socket?: string }) => {
    setStatus(await (await import('./control-commands.js')).runControl('reload', undefined, opts, io));
  });

  const feeds = control('feeds', 'the threat feeds: name, action, entries, age, last fetch, matches, last error', false)
    .option('--json', 'one feed per line as JSON', false)
    .action(async (opts: { socket?: string; config?: string; json: boolean }) => {
      setStatus(await (await import('./feeds-commands.js')).runFeeds(false, undefined, opts, io));
    });
  feeds
    .command('update [name]')
    .description("fetch one feed (or every feed) now, within each source's minimum refresh; a failure keeps the last good copy")
    .option('--socket <path>', 'control socket path')
    .option('--config <file>', 'config file naming the control socket')
    .option('--json', 'one result per line as JSON', false)
    .action(async (name: string | undefined, _opts: unknown, cmd: { optsWithGlobals(): { socket?: string; config?: string; json: boolean } }) => {
      // --socket, --config and --json may be read by `feeds` itself when given after `update`: take both.
      setStatus(await (await import('./feeds-commands.js')).runFeeds(true, name, cmd.optsWithGlobals(), io));
    });
  const fleet = program.command('fleet').description('the fleet of hosts sharing bans over NATS JetStream');
  fleet
    .command('status')
    .description('the fleet as this daemon sees it: hosts, last seen, lag, bans from each, key fingerprints')
    .option('--socket <path>', 'control socket path')
    .option('--config <file>', 'config file naming the control socket')
    .option('--json', 'as JSON', false)
    .action(async (opts: { socket?: string; config?: string; json: boolean }) => {
      setStatus(await (await import('./fleet-commands.js')).runFleetStatus(opts, io));
    });
  fleet
    .command('keygen <file>')
    .description('write a new ed25519 signing key to FILE (0600) and print its public key as the line fleet.trustedKeys takes')
    .option('--host <name>', 'the host name to print before the key (default HOST)')
    .action(async (file: string, opts: { host?: string }) => {
      setStatus((await import('./fleet-commands.js')).runFleetKeygen(file, opts.host, io));
    });

  // State commands read the state database directly (read-only; fine beside a running daemon).
  const stateCommand = (name: string, description: string) =>
    program.command(name).description(description).option('--state <dir>', 'state directory (default: state.dir of the config, /var/lib/portwarden)').option('--config <file>', 'config file naming the state directory');
  stateCommand('history <address>', 'an address\'s offences, incidents and bans over time, from the state database')
    .option('--json', 'one JSON object per line', false)
    .option('--limit <n>', 'newest incidents shown at most (default 1000)')
    .action(async (address: string, opts: { state?: string; config?: string; json: boolean; limit?: string }) => {
      setStatus((await import('./state-commands.js')).runHistory(address, opts, io));
    });
  stateCommand('incidents', 'incidents of the last period, from the state database')
    .option('--since <duration>', 'how far back: 90s, 10m, 1h, 2d (default 1h)')
    .option('--json', 'one incident per line as JSON', false)
    .option('--limit <n>', 'newest incidents shown at most (default 1000)')
    .action(async (opts: { state?: string; config?: string; json: boolean; since?: string; limit?: string }) => {
      setStatus((await import('./state-commands.js')).runIncidents(opts, io));
    });
  stateCommand('export', 'every ban, incident or offender of the state database, as JSON lines or CSV')
    .option('--format <format>', 'json (one object per line) or csv', 'json')
    .option('--what <table>', 'bans, incidents or offenders', 'bans')
    .action(async (opts: { state?: string; config?: string; format: string; what: string }) => {
      setStatus((await import('./state-commands.js')).runExport(opts, io));
    });

  stateCommand('report', 'a self-contained report of a period (incidents over time, top sources, bans and outcomes, escalations, health) as HTML or PDF')
    .option('--since <duration>', 'the period, back from now: 7d, 30d, 12h (default 30d)')
    .option('--format <format>', 'html (standard output unless --out) or pdf (printed by headless chromium)', 'html')
    .option('--out <file>', 'write the report to this file (pdf default: portwarden-report.pdf)')
    .action(async (opts: { state?: string; config?: string; since?: string; format: string; out?: string }) => {
      setStatus((await import('./report.js')).runReport(opts, io));
    });

  program
    .command('demo')
    .description('build a lab of network namespaces, run the daemon against real nmap scans and benign traffic, report, and remove the lab')
    .action(async () => {
      const { runDemo } = await import('./demo.js');
      setStatus(await runDemo(io));
    });

  const rules = program.command('rules').description('work with rule files');
  rules
    .command('test')
    .description('run a capture through detection with a rule file and show, per rule, what it matched and what it would have done (the kernel is not touched); exit 0 no rule fired, 1 one did, 2 error')
    .argument('<rules>', 'a rule file (YAML list of rules)')
    .requiredOption('--pcap <file...>', 'capture files, read in order as one capture')
    .option('--json', 'one JSON object per rule', false)
    .option('--profile <name>', `detection profile: ${PROFILE_NAMES.join(', ')}`, parseProfile)
    .option('--config <file>', 'YAML config file (profile, detection settings, rule limits)')
    .action(async (file: string, opts: { pcap: string[]; json: boolean; profile?: ProfileName; config?: string }) => {
      const { runRulesTest } = await import('./rules-test.js');
      setStatus(await runRulesTest(file, opts, io));
    });

  const config = program.command('config').description('work with config files');
  config
    .command('check')
    .description('validate a config file; prints every problem with file, line and field')
    .argument('<file>')
    .option('--profile <name>', 'profile to apply the file to', parseProfile)
    .action(async (file: string, opts: { profile?: ProfileName }) => {
      // As start reads the file (config/check.ts): the same parser, and what start reads because of it.
      const { checkConfigFile } = await import('../config/check.js');
      const c = await checkConfigFile(file, opts.profile);
      io.out(`${file}: ok (profile ${c.profile})`);
      io.out((await import('../intel/geo/geo-stage.js')).geoCheckLine(c.geo));
    });

  return program;
}

/** Runs the CLI; returns the exit status (0 ok, 1 incidents found, 2 error). */
export async function main(argv: string[], io: Output = defaultOutput): Promise<number> {
  let status = 0;
  const program = buildProgram(io, (s) => {
    status = s;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof PortwardenError) {
      io.err(`portwarden: ${err.code}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
