import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { PROFILE_NAMES, type ProfileName } from '../config/profiles.js';
import { PortwardenError } from '../errors.js';
import { runAnalyze, type Output } from './analyze.js';

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

/** Runs the CLI; returns the exit status (0 ok, 1 incidents found, 2 error). */
export async function main(argv: string[], io: Output = defaultOutput): Promise<number> {
  let status = 0;
  const program = new Command('portwarden')
    .description('Dynamic firewall and network intrusion detection: finds scans, sweeps and floods, and bans their sources.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('analyze')
    .description('analyse capture files (pcap, pcapng) and report incidents; exit 0 none, 1 incidents, 2 error')
    .argument('<file...>', 'capture files, read in order as one capture')
    .option('--json', 'one incident per line as JSON (summary on stderr)', false)
    .option('--profile <name>', `detection profile: ${PROFILE_NAMES.join(', ')}`, parseProfile)
    .option('--config <file>', 'YAML config file')
    .action(async (files: string[], opts: { json: boolean; profile?: ProfileName; config?: string }) => {
      status = await runAnalyze(files, opts, io);
    });

  const config = program.command('config').description('work with config files');
  config
    .command('check')
    .description('validate a config file; prints every problem with file, line and field')
    .argument('<file>')
    .option('--profile <name>', 'profile to apply the file to', parseProfile)
    .action((file: string, opts: { profile?: ProfileName }) => {
      const c = loadConfigFile(file, opts.profile);
      io.out(`${file}: OK (profile ${c.profile})`);
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
