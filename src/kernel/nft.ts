/**
 * Runs Debian's `nft` for what is not on the hot path: the declarative set-up and listings. Each run
 * costs milliseconds to a second (nft reads the whole ruleset first), so changes to bans never go
 * through here.
 */
import { spawn } from 'node:child_process';
import { PortwardenError } from '../errors.js';

export interface NftOutput {
  stdout: string;
  stderr: string;
}

/** Runs `nft args…` with `input` on stdin; a non-zero exit becomes PW_ERR_ENFORCE carrying nft's message. */
export function runNft(nftPath: string, args: readonly string[], input?: string): Promise<NftOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(nftPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      reject(new PortwardenError('PW_ERR_ENFORCE', `cannot run ${nftPath}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      const out = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
      if (code === 0) {
        resolve(out);
        return;
      }
      const status = code === null ? `signal ${signal}` : `status ${code}`;
      const detail = out.stderr.trim() || out.stdout.trim() || '(no output)';
      reject(new PortwardenError('PW_ERR_ENFORCE', `${nftPath} ${args.join(' ')} failed with ${status}: ${detail}`));
    });
    // nft may exit before reading all of stdin (a syntax error early on): that EPIPE is not the error to report.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}
