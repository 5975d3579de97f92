/**
 * One daemon per state directory and per control socket. `start` takes this lock before it touches the kernel,
 * the database or the socket, so a second `start` (by mistake, or a second unit) changes nothing of the first
 * and exits naming the pid that runs. The lock is a pid file created with O_EXCL beside each thing guarded
 * (`STATE/portwarden.pid`, `SOCKET.lock`): atomic on any local file system, readable by an operator, and a
 * file whose pid no longer runs (a kill -9, a reboot) is taken over.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortwardenError } from '../errors.js';

/** Whether `pid` is a running process (EPERM: it runs under another user). */
function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isNaN(pid) ? null : pid;
  } catch {
    return null;
  }
}

export class InstanceLock {
  readonly #files: string[];

  private constructor(files: string[]) {
    this.#files = files;
  }

  /**
   * Takes every lock file or none: a refusal releases what it took. Folders that do not exist are created
   * 0700 (a folder that exists keeps its mode). Throws PW_ERR_RUNNING naming the file and the pid.
   */
  static acquire(files: readonly string[], pid = process.pid): InstanceLock {
    const taken: string[] = [];
    try {
      for (const file of files) {
        take(file, pid);
        taken.push(file);
      }
    } catch (err) {
      for (const file of taken) release(file, pid);
      throw err;
    }
    return new InstanceLock(taken);
  }

  /** Removes the lock files that are still ours. */
  release(pid = process.pid): void {
    for (const file of this.#files.splice(0)) release(file, pid);
  }
}

function take(file: string, pid: number): void {
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new PortwardenError('PW_ERR_RUNNING', `cannot create the lock file ${file}: ${(err as Error).message}`, { cause: err });
      const holder = holderOf(file);
      if (holder !== null && holder !== pid && running(holder)) {
        throw new PortwardenError('PW_ERR_RUNNING', `another portwarden is running (pid ${holder}, lock ${file}); stop it first, or talk to it with \`portwarden status\``);
      }
      // Left by a process that is gone (or by us): take it over.
      rmSync(file, { force: true });
    }
  }
  throw new PortwardenError('PW_ERR_RUNNING', `cannot take the lock file ${file}: another process keeps re-creating it`);
}

function release(file: string, pid: number): void {
  if (holderOf(file) === pid) rmSync(file, { force: true });
}
