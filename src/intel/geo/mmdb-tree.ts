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

/** One network of the tree and the data record it maps to (an opaque pointer: equal pointers, equal data). */
export interface TreeNetwork {
  family: Family;
  /** First address as an unsigned integer of 32 or 128 bits. */
  start: bigint;
  prefixLength: number;
  pointer: number;
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
 * explicit stack: a GeoLite2 Country tree has about a million nodes, too deep a recursion for nothing.
 */
export function* treeNetworks(src: TreeSource): Generator<TreeNetwork> {
  const read = recordReader(src.buffer, src.recordSize);
  const { nodeCount } = src;
  if (src.ipVersion === 4) {
    yield* walk(read, nodeCount, 0, 4, 32, -1);
    return;
  }
  const v4 = ipv4StartNode(read, nodeCount);
  if (v4 >= 0 && v4 < nodeCount) yield* walk(read, nodeCount, v4, 4, 32, -1);
  else if (v4 > nodeCount) yield { family: 4, start: 0n, prefixLength: 0, pointer: v4 };
  yield* walk(read, nodeCount, 0, 6, 128, v4);
}

function* walk(read: RecordReader, nodeCount: number, root: number, family: Family, width: number, skipNode: number): Generator<TreeNetwork> {
  // Each entry: node, the address bits so far, depth. Right pushed first, so left (lower addresses) comes out first.
  const stack: { node: number; start: bigint; depth: number }[] = [{ node: root, start: 0n, depth: 0 }];
  while (stack.length > 0) {
    const { node, start, depth } = stack.pop()!;
    for (const right of [true, false]) {
      const record = read(node, right);
      const childDepth = depth + 1;
      const childStart = right ? start | (1n << BigInt(width - childDepth)) : start;
      if (record === nodeCount) continue;
      if (record > nodeCount) {
        yield { family, start: childStart, prefixLength: childDepth, pointer: record };
        continue;
      }
      // The IPv4 subtree (and its aliases) inside an IPv6 tree: walked once, as IPv4.
      if (record === skipNode) continue;
      if (childDepth >= width) continue; // a malformed tree deeper than its addresses
      stack.push({ node: record, start: childStart, depth: childDepth });
    }
  }
}
