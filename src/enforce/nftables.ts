/**
 * The nftables backend (default): an `inet portwarden` table of its own, created from one
 * declarative `nft -f` file, then changed only through nf_tables netlink batches — an `nft` process
 * per change costs about 4 ms and grows to about a second once a large interval set exists; a batch
 * of 1,000 bans takes about 5 ms in the kernel (measured in nftables.netns.test.ts), whatever the set size.
 *
 * Every ban is a set element with its own timeout, so the kernel lifts it even if the daemon dies.
 * Overlapping prefixes are resolved before they reach the kernel (see element-state.ts).
 *
 * Failure policy: a commit applies every decision the kernel accepts. The kernel runs a batch all
 * or nothing, so when it refuses some messages the batch is planned again without the refused
 * decisions and sent again (a deletion that finds nothing counts as done: the element expired or
 * someone removed it); the refused decisions are then thrown as one EnforceError (PW_ERR_ENFORCE).
 */
import { PortwardenError } from '../errors.js';
import type { CommitResult, EnforcementBackend } from './backend.js';
import type { KernelBan } from '../model/ban.js';
import { EnforceError, QueueingBackend, type EnforceFailure } from './decisions.js';
import { ElementState, type BanEntry, type QueuedChange, type SetName } from './element-state.js';
import { runNft } from '../kernel/nft.js';
import {
  encodeDeleteTableBatch,
  encodeGetTable,
  encodeSetElementBatch,
  ENOENT,
  errnoName,
  intervalsFromElements,
  NftNetlink,
  SEQ_MASK,
  type BatchOutcome,
} from './nft-netlink.js';
import { keepBansRulesetText, resolveNftRuleset, rulesetText, type NftRulesetOptions, type ResolvedNftRuleset } from './nft-ruleset.js';
import { parseTarget, type Family } from '../net/target.js';

interface Transaction {
  /** Index of the first decision the transaction did not take. */
  end: number;
  applied: number;
  durationMs: number;
  failures: EnforceFailure[];
}

export interface NftablesBackendOptions {
  ruleset?: NftRulesetOptions;
  /** Default 'nft' from PATH. */
  nftPath?: string;
  /** How long to wait for the kernel's answer to one netlink request. Default 5000. */
  replyTimeoutMs?: number;
  /**
   * Wall-clock ms, for the expiry estimates the overlap planning needs (the kernel keeps the real
   * timers). Default Date.now.
   */
  clock?: () => number;
}

/**
 * How long after our expiry estimate an element may still be in the kernel: its timer starts when
 * the kernel commits, a little after our estimate. Within it an element is planned as present.
 */
const EXPIRY_GRACE_MS = 1000;
/** A batch the kernel keeps refusing is given up after this many plans. */
const MAX_ROUNDS = 8;

const ERRNO_REASONS: Record<string, string> = {
  ENOENT: 'table or set missing, was the table deleted?',
  EEXIST: 'overlaps an element already in the set',
  ENOSPC: 'set is full',
  EMSGSIZE: 'too many changes for one netlink message',
  EPERM: 'not permitted (needs CAP_NET_ADMIN)',
};

export class NftablesBackend extends QueueingBackend implements EnforcementBackend {
  readonly name = 'nftables' as const;
  readonly ruleset: ResolvedNftRuleset;
  readonly #nftPath: string;
  readonly #replyTimeoutMs: number;
  readonly #clock: () => number;
  readonly #state = new ElementState(EXPIRY_GRACE_MS);
  #netlink: NftNetlink | null = null;
  /** Kernel operations run one after another: replies are matched to one request at a time. */
  #tail: Promise<unknown> = Promise.resolve();

  /** Validates the ruleset options now (PW_ERR_CONFIG_INVALID), not at the first setup. */
  constructor(options: NftablesBackendOptions = {}) {
    super();
    this.ruleset = resolveNftRuleset(options.ruleset);
    this.#nftPath = options.nftPath ?? 'nft';
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 5000;
    this.#clock = options.clock ?? Date.now;
  }

  get nfTableName(): string {
    return this.ruleset.tableName;
  }

  /** The text `setup` feeds to `nft -f -`. */
  rulesetText(): string {
    return rulesetText(this.ruleset);
  }

  setup(): Promise<void> {
    return this.#serial(async () => {
      await runNft(this.#nftPath, ['-f', '-'], this.rulesetText());
      this.#state.clear(); // the table was just created empty
    });
  }

  /**
   * Restart: lays the new ruleset over the existing table and keeps the ban sets' elements (see
   * keepBansRulesetText), in about 20 ms whatever the number of bans. Null when it did; otherwise why
   * not (no table, or nft refused: a set's definition changed), and `setup` replaces the table.
   */
  setupKeepingBans(): Promise<string | null> {
    return this.#serial(async () => {
      let chains: string[];
      try {
        const { stdout } = await runNft(this.#nftPath, ['-j', 'list', 'chains', 'inet']);
        chains = chainNames(stdout, this.ruleset.tableName);
      } catch (err) {
        return `listing the chains failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (chains.length === 0) return `no table inet ${this.ruleset.tableName}`;
      try {
        await runNft(this.#nftPath, ['-f', '-'], keepBansRulesetText(this.ruleset, chains));
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      // The kernel holds bans this backend never planned: the daemon adopts its own (adoptBans), the
      // comparison with the kernel's list finds the rest.
      this.#state.clear();
      return null;
    });
  }

  /**
   * Bans known to be in the kernel already (after `setupKeepingBans`): planned with from now on, so
   * a later ban inside one of them or its unban is planned right, and nothing is sent.
   */
  adoptBans(bans: readonly { target: string; expiresAtMs: number | null }[]): void {
    const entries: BanEntry[] = [];
    for (const b of bans) {
      const parsed = parseTarget(b.target);
      if (parsed.ok) entries.push({ target: parsed.target, expiresAtMs: b.expiresAtMs });
    }
    this.#state.adopt(entries);
  }

  /** Stops planning with a ban the kernel turned out not to hold (so banning it again is a plain add). */
  forgetBan(target: string): void {
    const parsed = parseTarget(target);
    if (parsed.ok) this.#state.forget(parsed.target.family === 4 ? 'ban4' : 'ban6', parsed.target);
  }

  commit(): Promise<CommitResult> {
    const changes = this.takeQueued();
    return this.#serial(() => this.#commit(changes));
  }

  /** Lists through a netlink dump of both ban sets (restore after a restart reads 100,000 this way). */
  bans(): Promise<KernelBan[]> {
    // Serialised too, so a listing asked for after a commit sees it.
    return this.#serial(async () => {
      // One request at a time on the socket.
      const v4 = await this.#listSet('ban4', 4);
      const v6 = await this.#listSet('ban6', 6);
      return [...v4, ...v6];
    });
  }

  present(): Promise<boolean> {
    return this.#serial(async () => {
      const errno = await this.#socket().request((seq) => encodeGetTable(this.ruleset.tableName, seq));
      if (errno === 0) return true;
      if (errno === ENOENT) return false;
      throw new PortwardenError('PW_ERR_ENFORCE', `asking for table inet ${this.ruleset.tableName} failed: ${errnoName(errno)}`);
    });
  }

  /** Deletes the table (nothing to do if it is gone) and closes the netlink socket. */
  teardown(): Promise<void> {
    return this.#serial(async () => {
      const netlink = this.#socket();
      const seq = (netlink.nextSeq(3) + 1) & SEQ_MASK;
      const outcome = await netlink.batch(encodeDeleteTableBatch(this.ruleset.tableName, seq), seq, 1);
      const errno = outcome.batchErrno || (outcome.failures.get(seq) ?? 0);
      if (errno !== 0 && errno !== ENOENT) {
        throw new PortwardenError('PW_ERR_ENFORCE', `deleting table inet ${this.ruleset.tableName} failed: ${errnoName(errno)}`);
      }
      this.#state.clear();
      this.dropQueued();
      this.close();
    });
  }

  /** Closes the netlink socket (reopened on the next use). */
  close(): void {
    this.#netlink?.close();
    this.#netlink = null;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #socket(): NftNetlink {
    if (this.#netlink === null) {
      try {
        this.#netlink = new NftNetlink({ replyTimeoutMs: this.#replyTimeoutMs });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new PortwardenError('PW_ERR_ENFORCE', `cannot open a NETLINK_NETFILTER socket (needs CAP_NET_ADMIN): ${reason}`, { cause: error });
      }
    }
    return this.#netlink;
  }

  async #commit(changes: readonly QueuedChange[]): Promise<CommitResult> {
    if (changes.length === 0) return { applied: 0, durationMs: 0 };
    const netlink = this.#socket();
    this.#state.sweep(this.#clock());
    const failures: EnforceFailure[] = [];
    let applied = 0;
    let durationMs = 0;
    for (let next = 0; next < changes.length; ) {
      let result: Transaction;
      try {
        result = await this.#transact(netlink, changes, next);
      } catch (error) {
        // No answer, or the socket failed: the batch may or may not be in the kernel. It is
        // planned as not applied; the reconciler repairs what differs.
        const reason = error instanceof Error ? error.message : String(error);
        for (const decision of changes.slice(next)) failures.push({ action: decision.action, target: decision.target.text, errno: 0, reason });
        throw new EnforceError(failures, applied, durationMs, { cause: error });
      }
      applied += result.applied;
      durationMs += result.durationMs;
      failures.push(...result.failures);
      next = result.end;
    }
    if (failures.length > 0) throw new EnforceError(failures, applied, durationMs);
    return { applied, durationMs };
  }

  /**
   * One kernel transaction for the decisions from `from` on — as many as fit in one sendmsg,
   * usually all (the socket takes megabytes, about 100 bytes per address) — planned again without
   * the refused decisions until it goes through. `end` is where the next transaction starts.
   */
  async #transact(netlink: NftNetlink, changes: readonly QueuedChange[], from: number): Promise<Transaction> {
    const table = this.ruleset.tableName;
    const refused = new Map<number, EnforceFailure>();
    let end = changes.length;
    let sized = false;
    let durationMs = 0;
    for (let round = 0; ; round++) {
      const now = this.#clock();
      this.#state.begin();
      for (let index = from; index < end; index++) if (!refused.has(index)) this.#state.plan(changes[index], now, index);
      const planned = this.#state.planned();
      if (planned.length === 0) break; // nothing for the kernel (already banned, already lifted, …)
      const firstSeq = (netlink.nextSeq(planned.length + 2) + 1) & SEQ_MASK;
      const data = encodeSetElementBatch(table, planned.map(({ change }) => change), firstSeq);
      if (!sized && end - from > 1 && data.length > netlink.maxBatchBytes) {
        // More than one sendmsg takes: the first half now, the rest in the next transaction.
        this.#state.abort();
        end = from + Math.ceil((end - from) / 2);
        round = -1;
        continue;
      }
      sized = true;

      let outcome: BatchOutcome;
      try {
        outcome = await netlink.batch(data, firstSeq, planned.length);
      } catch (error) {
        this.#state.abort();
        throw error;
      }
      durationMs += outcome.durationMs;
      if (outcome.batchErrno === 0 && outcome.failures.size === 0) break;

      this.#state.abort();
      if (outcome.batchErrno !== 0 || round + 1 >= MAX_ROUNDS) {
        const errno = outcome.batchErrno || [...outcome.failures.values()][0];
        const context = outcome.batchErrno !== 0 ? 'whole batch refused' : 'kernel kept refusing the batch';
        for (let index = from; index < end; index++) {
          if (!refused.has(index)) refused.set(index, failure(changes[index], errno, context));
        }
        break;
      }
      for (const [seq, errno] of outcome.failures) {
        const { decision, change } = planned[(seq - firstSeq) & SEQ_MASK];
        if (change.kind === 'delete' && errno === ENOENT) this.#state.forget(change.set, change.target);
        else if (!refused.has(decision)) refused.set(decision, failure(changes[decision], errno));
      }
    }
    this.#state.settle();
    return { end, applied: end - from - refused.size, durationMs, failures: [...refused.values()] };
  }

  async #listSet(set: SetName, family: Family): Promise<KernelBan[]> {
    const elements = await this.#socket().dumpSetElements(this.ruleset.tableName, set);
    const out: KernelBan[] = [];
    for (const { targets, expiresInMs } of intervalsFromElements(family, elements)) {
      const expiresInSeconds = expiresInMs === null ? null : Math.floor(expiresInMs / 1000);
      for (const target of targets) out.push({ target: target.text, expiresInSeconds });
    }
    return out;
  }
}

function failure(decision: QueuedChange, errno: number, context?: string): EnforceFailure {
  const name = errnoName(errno);
  const reason = `${name}${ERRNO_REASONS[name] ? ` (${ERRNO_REASONS[name]})` : ''}${context ? `, ${context}` : ''}`;
  return { action: decision.action, target: decision.target.text, errno, reason };
}

/** The chains of table inet `table` in `nft -j list chains inet` output. */
function chainNames(json: string, table: string): string[] {
  const doc = JSON.parse(json) as { nftables?: { chain?: { family?: string; table?: string; name?: string } }[] };
  const out: string[] = [];
  for (const item of doc.nftables ?? []) {
    const c = item.chain;
    if (c !== undefined && c.family === 'inet' && c.table === table && typeof c.name === 'string') out.push(c.name);
  }
  return out;
}
