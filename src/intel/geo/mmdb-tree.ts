/**
 * A walk over an mmdb file's search tree that yields every network it holds, with the record it
 * points to. mmdb-lib (under the npm `maxmind` reader) only looks single addresses up; turning a
 * country into kernel interval sets needs the database's own networks, so this reads the tree
 * itself: nodes of two records (24, 28 or 32 bits each), a record below `nodeCount` is another
 * node, `nodeCount` is "no data", anything above points into the data section.
 *
 * What must stay true: an IPv6 tree holds IPv4 at ::/96 and usually aliases that subtree at
 * ::ffff:0:0/96, 2002::/16 (6to4) and 2001::/32 (Teredo). The IPv4 subtree is yielded once, as IPv4,
 * and every other path that reaches its node is an alias and skipped, so no network comes out twice
 * or as IPv6 when the kernel sees it as IPv4.
 */
import type { Family } from '../../net/target.js';

/** What the walk needs of a database: its tree bytes and the tree's shape (mmdb-lib's Metadata). */
export interface TreeSource {
  readonly buffer: Buffer;
  readonly ipVersion: number;
  readonly nodeCount: number;
  readonly recordSize: number;
}

/**
 * One network of the tree and the data record it maps to (an opaque pointer: equal pointers, equal
 * data). The walk yields ONE object, overwritten for each network: read it before the next step, and
 * ask `networkStart` for the address only for the networks you keep (a bigint per network of a
 * million-network tree costs seconds).
 */
export interface TreeNetwork {
  family: Family;
  /** The first address as 32-bit words, most significant first (IPv4: words[0] only). */
  readonly words: Uint32Array;
  prefixLength: number;
  pointer: number;
}

/** First address of a yielded network as an unsigned integer of 32 or 128 bits. */
export function networkStart(n: TreeNetwork): bigint {
  const w = n.words;
  if (n.family === 4) return BigInt(w[0]);
  return (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
}

type RecordReader = (node: number, right: boolean) => number;

function recordReader(buf: Buffer, recordSize: number): RecordReader {
  switch (recordSize) {
    case 24:
      return (node, right) => buf.readUIntBE(node * 6 + (right ? 3 : 0), 3);
    case 28:
      return (node, right) => {
        const o = node * 7;
        return right ? ((buf[o + 3] & 0x0f) << 24) | buf.readUIntBE(o + 4, 3) : ((buf[o + 3] & 0xf0) << 20) | buf.readUIntBE(o, 3);
      };
    case 32:
      return (node, right) => buf.readUInt32BE(node * 8 + (right ? 4 : 0));
    default:
      throw new Error(`unsupported mmdb record size ${recordSize}`);
  }
}

/** The node where IPv4 starts in an IPv6 tree (96 zero bits down), or -1 when the tree has none. */
function ipv4StartNode(read: RecordReader, nodeCount: number): number {
  let node = 0;
  for (let i = 0; i < 96; i++) {
    if (node >= nodeCount) return -1;
    node = read(node, false);
  }
  return node;
}

/**
 * Every network of the tree with data (IPv4 first; not sorted within a family). Depth-first with an
 * explicit stack of plain numbers: a GeoLite2 Country tree has about a million nodes, too many for
 * recursion or an object (or bigint) per node.
 */
export function* treeNetworks(src: TreeSource): Generator<TreeNetwork> {
  const read = recordReader(src.buffer, src.recordSize);
  const { nodeCount } = src;
  const out: TreeNetwork = { family: 4, words: new Uint32Array(4), prefixLength: 0, pointer: 0 };
  if (src.ipVersion === 4) {
    yield* walk(read, nodeCount, 0, 4, -1, out);
    return;
  }
  const v4 = ipv4StartNode(read, nodeCount);
  if (v4 >= 0 && v4 < nodeCount) yield* walk(read, nodeCount, v4, 4, -1, out);
  else if (v4 > nodeCount) {
    out.words.fill(0);
    out.prefixLength = 0;
    out.pointer = v4;
    yield out;
  }
  yield* walk(read, nodeCount, 0, 6, v4, out);
}

function* walk(read: RecordReader, nodeCount: number, root: number, family: Family, skipNode: number, out: TreeNetwork): Generator<TreeNetwork> {
  const width = family === 4 ? 32 : 128;
  out.family = family;
  // The stack: node, depth, and the four address words of each pending subtree.
  const cap = 2 * width + 2;
  const nodes = new Int32Array(cap);
  const depths = new Uint8Array(cap);
  const words = new Uint32Array(cap * 4);
  let top = 0;
  nodes[0] = root;
  depths[0] = 0;
  words.fill(0, 0, 4);
  top = 1;
  const w = out.words;
  while (top > 0) {
    top--;
    const node = nodes[top];
    const depth = depths[top];
    const base = top * 4;
    const w0 = words[base];
    const w1 = words[base + 1];
    const w2 = words[base + 2];
    const w3 = words[base + 3];
    // Left (bit 0) last onto the stack, so lower addresses come out first.
    for (let bit = 1; bit >= 0; bit--) {
      const record = read(node, bit === 1);
      if (record === nodeCount) continue;
      const childDepth = depth + 1;
      let c0 = w0;
      let c1 = w1;
      let c2 = w2;
      let c3 = w3;
      if (bit === 1) {
        const i = depth >>> 5;
        const mask = (1 << (31 - (depth & 31))) >>> 0;
        if (i === 0) c0 = (c0 | mask) >>> 0;
        else if (i === 1) c1 = (c1 | mask) >>> 0;
        else if (i === 2) c2 = (c2 | mask) >>> 0;
        else c3 = (c3 | mask) >>> 0;
      }
      if (record > nodeCount) {
        w[0] = c0;
        w[1] = c1;
        w[2] = c2;
        w[3] = c3;
        out.prefixLength = childDepth;
        out.pointer = record;
        yield out;
        continue;
      }
      // The IPv4 subtree (and its aliases) inside an IPv6 tree: walked once, as IPv4.
      if (record === skipNode) continue;
      if (childDepth >= width || top >= cap) continue; // a malformed tree deeper than its addresses
      nodes[top] = record;
      depths[top] = childDepth;
      const b = top * 4;
      words[b] = c0;
      words[b + 1] = c1;
      words[b + 2] = c2;
      words[b + 3] = c3;
      top++;
    }
  }
}
