/**
 * The `command` step: runs a configured program (argv, no shell) with the incident as one line of JSON on
 * its stdin, and waits at most `timeoutMs`; past it the program is killed (SIGKILL) and the step fails.
 * A program that exits non-zero fails the step; the first bytes of its stderr say why.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  ok: boolean;
  detail: string;
}

const KEEP_BYTES = 512;

export function runCommand(argv: readonly string[], input: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (err) {
      resolve({ ok: false, detail: `cannot start ${argv[0]}: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    let stderr = '';
    let done = false;
    const finish = (r: CommandResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, detail: `timed out after ${timeoutMs} ms; killed` });
    }, timeoutMs);
    timer.unref();
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < KEEP_BYTES) stderr += chunk.toString('utf8').slice(0, KEEP_BYTES - stderr.length);
    });
    child.on('error', (err) => finish({ ok: false, detail: `cannot start ${argv[0]}: ${err.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) finish({ ok: true, detail: 'exit 0' });
      else finish({ ok: false, detail: `${code !== null ? `exit ${code}` : `killed by ${signal}`}${stderr.trim() !== '' ? `: ${stderr.trim()}` : ''}` });
    });
    // A program that does not read its stdin closes the pipe: that is its business, not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
