/**
 * Test helper, not shipped behaviour: a NATS client run inside the NATS namespace (the test process
 * itself cannot reach it). Subcommands:
 *   forge URL BUCKET HOST TARGET   puts a ban of TARGET claiming to come from HOST, signed with a
 *                                  fresh key nobody trusts, and one without signature; prints "ok"
 *   siem URL STREAM                reads every message of STREAM with a real consumer; prints each
 *                                  document as one JSON line with its headers
 */
import { connect, headers as _headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { encodeSigned, keyOf } from '../../src/fleet/codec.js';
import { generateKey } from '../../src/fleet/signing.js';

void _headers;
const [cmd, url, name, host, target] = process.argv.slice(2);
const nc = await connect({ servers: url });
if (cmd === 'forge') {
  const kv = await new Kvm(nc).create(name!);
  const now = Date.now();
  const ban = { v: 1, t: 'ban', host: host!, target: target!, reason: 'forged', incident: null, createdAt: now, expiresAt: now + 600_000 };
  await kv.put(keyOf(target!), encodeSigned(generateKey().key, ban));
  await kv.put(keyOf(`${target!.replace(/\d+$/, '')}99`), JSON.stringify({ ...ban, target: `${target!.replace(/\d+$/, '')}99` }));
  process.stdout.write('ok\n');
} else if (cmd === 'siem') {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(name!);
  const info = await consumer.info();
  let left = info.num_pending;
  if (left > 0) {
    const batch = await consumer.fetch({ max_messages: left, expires: 5_000 });
    for await (const m of batch) {
      process.stdout.write(`${JSON.stringify({ host: m.headers?.get('Portwarden-Host'), signature: m.headers?.get('Portwarden-Signature'), doc: m.json() })}\n`);
      if (--left === 0) break;
    }
  }
} else throw new Error(`unknown command ${String(cmd)}`);
await nc.close();
