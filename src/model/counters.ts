/**
 * Counters: one vocabulary for every stage's counts, one registry that logs, `status` and
 * Prometheus all read from (Suricata's habit: a counter is registered once with its name and what
 * it counts, and the hot path increments it by handle, an index into a typed array).
 *
 * Names are public (status, logs, metrics labels, docs/reference.md) and stay stable. They are
 * full names, dotted (`dns.blocked`, `capture.lost`); a stage that runs twice under different
 * roles (a capture for detection, another for the responder) registers under different prefixes,
 * so the same name in two groups means the same thing and the registry sums it (two libpcap
 * interfaces → one `capture.delivered`).
 */

/** Counter name → one line saying what it counts. */
export type CounterDocs<N extends string = string> = Readonly<Record<N, string>>;

/** A group of counters the registry reads when someone asks (status, a scrape, the log line). */
export interface CounterGroup {
  /** Who registered it (for the log line and debugging), e.g. `detect`, `capture.nflog`. */
  readonly group: string;
  /** Calls `visit` once per counter with its full name, current value and doc line. Cold path. */
  forEach(visit: (name: string, value: number, doc: string) => void): void;
}

/** Handles of a docs table: name → dense index, in the table's key order. */
export function counterIds<N extends string>(docs: CounterDocs<N>): Readonly<Record<N, number>> {
  return Object.fromEntries(Object.keys(docs).map((n, i) => [n, i])) as Record<N, number>;
}

/**
 * A table of counters owned by one stage, incremented by handle on the hot path:
 * `table.values[id]++` or `table.inc(id)`, never by name. `prefix` is put before every name when
 * the table is read (`respond` + `sent` → `respond.sent`), so one docs table serves several roles.
 */
export class CounterTable<N extends string = string> implements CounterGroup {
  readonly group: string;
  readonly prefix: string;
  readonly names: readonly N[];
  readonly docs: CounterDocs<N>;
  /** Name → handle (index into `values`). */
  readonly id: Readonly<Record<N, number>>;
  /** The counts. Float64: exact up to 2^53, no wrap at 4 billion. */
  readonly values: Float64Array;

  /**
   * @param values an existing array to read (a stage that already counts into a typed array by
   *   index: the registry then reads it in place); default a new zeroed one.
   */
  constructor(group: string, docs: CounterDocs<N>, options: { prefix?: string; values?: Float64Array } = {}) {
    this.group = group;
    this.docs = docs;
    this.names = Object.keys(docs) as N[];
    this.id = counterIds(docs);
    this.prefix = options.prefix === undefined || options.prefix === '' ? '' : `${options.prefix}.`;
    this.values = options.values ?? new Float64Array(this.names.length);
    if (this.values.length < this.names.length) throw new RangeError(`counter table ${group}: ${this.values.length} values for ${this.names.length} names`);
  }

  inc(id: number, by = 1): void {
    this.values[id] += by;
  }

  /** For a count that is a level (a set's size), not a running total. */
  set(id: number, value: number): void {
    this.values[id] = value;
  }

  get(name: N): number {
    return this.values[this.id[name]];
  }

  /** Unprefixed name → value, every counter. */
  toRecord(): Record<N, number> {
    const out = {} as Record<N, number>;
    for (let i = 0; i < this.names.length; i++) out[this.names[i]] = this.values[i];
    return out;
  }

  forEach(visit: (name: string, value: number, doc: string) => void): void {
    for (let i = 0; i < this.names.length; i++) visit(this.prefix + this.names[i], this.values[i], this.docs[this.names[i]]);
  }
}

/**
 * Counters whose values live elsewhere (a kernel's or an addon's statistics, a legacy stats
 * object), read through a function when the registry is read. `read` returns full names; names it
 * returns that are not in `docs` (per-queue counts, say) get `dynamicDoc`.
 */
export class CounterReader implements CounterGroup {
  readonly group: string;
  readonly #docs: CounterDocs;
  readonly #read: () => Readonly<Record<string, number>>;
  readonly #dynamicDoc: string;

  constructor(group: string, docs: CounterDocs, read: () => Readonly<Record<string, number>>, dynamicDoc = '') {
    this.group = group;
    this.#docs = docs;
    this.#read = read;
    this.#dynamicDoc = dynamicDoc;
  }

  forEach(visit: (name: string, value: number, doc: string) => void): void {
    const values = this.#read();
    for (const name of Object.keys(values)) visit(name, values[name], this.#docs[name] ?? this.#dynamicDoc);
  }
}

/**
 * Every counter of a running daemon (or an `analyze` run). Stages register their groups once at
 * start (and remove them when they close); readers take the sums by name.
 */
export class CounterRegistry {
  readonly #groups: CounterGroup[] = [];

  /** Adds a group; returns the function that removes it again (a queue closed, a source stopped). */
  add(group: CounterGroup): () => void {
    this.#groups.push(group);
    return () => this.remove(group);
  }

  /** Creates a table and adds it. */
  table<N extends string>(group: string, docs: CounterDocs<N>, options: { prefix?: string; values?: Float64Array } = {}): CounterTable<N> {
    const t = new CounterTable(group, docs, options);
    this.add(t);
    return t;
  }

  remove(group: CounterGroup): void {
    const i = this.#groups.indexOf(group);
    if (i >= 0) this.#groups.splice(i, 1);
  }

  get groups(): readonly CounterGroup[] {
    return this.#groups;
  }

  /** Full name → value (summed over groups), every counter registered now. */
  values(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.#groups) g.forEach((name, value) => (out[name] = (out[name] ?? 0) + value));
    return out;
  }

  /** Full name → doc line, every counter registered now (docs/reference.md, `status --help`). */
  docs(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const g of this.#groups) g.forEach((name, _value, doc) => (out[name] ??= doc));
    return out;
  }

  /** The sum of one name over every group, 0 when no group has it. */
  value(name: string): number {
    let sum = 0;
    for (const g of this.#groups) g.forEach((n, v) => (n === name ? (sum += v) : undefined));
    return sum;
  }

  /** Whether some group currently has this name. */
  has(name: string): boolean {
    let found = false;
    for (const g of this.#groups) g.forEach((n) => (n === name ? (found = true) : undefined));
    return found;
  }
}
