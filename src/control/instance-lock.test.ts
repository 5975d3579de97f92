import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortwardenError } from '../errors.js';
import { InstanceLock } from './instance-lock.js';

const root = mkdtempSync(join(tmpdir(), 'pw-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, String(n++));

test('the first holder gets the lock; a second one is refused naming the running pid, and changes nothing', async () => {
  const dir = fresh();
  const files = [join(dir, 'state', 'portwarden.pid'), join(dir, 'run', 'control.sock.lock')];
  // A real other process holds it.
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  try {
    const held = InstanceLock.acquire(files, other.pid!);
    const before = files.map((f) => readFileSync(f, 'utf8'));
    assert.throws(
      () => InstanceLock.acquire(files),
      (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_RUNNING' && err.message.includes(`pid ${other.pid}`),
    );
    assert.deepEqual(files.map((f) => readFileSync(f, 'utf8')), before, 'the holder keeps its files');
    held.release(other.pid!);
    assert.ok(files.every((f) => !existsSync(f)));
  } finally {
    other.kill();
  }
});

test('a refusal on the second file releases the first; a stale file (its pid is gone) is taken over', async () => {
  const dir = fresh();
  const a = join(dir, 'a.pid');
  const b = join(dir, 'b.lock');
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(b, `${other.pid}\n`);
    assert.throws(() => InstanceLock.acquire([a, b]), /another portwarden is running/);
    assert.ok(!existsSync(a), 'the first lock was given back');
  } finally {
    other.kill();
    await new Promise((r) => other.once('exit', r));
  }
  // The holder is gone now: its file is stale.
  const lock = InstanceLock.acquire([a, b]);
  assert.equal(readFileSync(b, 'utf8').trim(), String(process.pid));
  lock.release();
});

test('a folder that exists keeps its mode; one the lock creates is 0700', () => {
  const dir = fresh();
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o1777);
  const lock = InstanceLock.acquire([join(dir, 'x.lock'), join(dir, 'new', 'y.lock')]);
  assert.equal(statSync(dir).mode & 0o7777, 0o1777);
  assert.equal(statSync(join(dir, 'new')).mode & 0o777, 0o700);
  lock.release();
});
