/**
 * The Internet checksum (RFC 1071) and the transport pseudo-header sum, for the packets portwarden
 * writes itself (DNS answers, responses to scanners) and for tests that check them.
 */

/**
 * The checksum of `length` bytes at `offset`, starting from `initial` (a pseudo-header sum). The
 * checksum field itself must be zero while it is computed; a packet whose checksum is right sums
 * (field included) to 0xffff, i.e. `checksum(...)` of it is 0.
 */
export function checksum(data: Uint8Array, offset: number, length: number, initial: number): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The sum of the TCP/UDP pseudo-header (RFC 793 for IPv4, RFC 8200 §8.1 for IPv6) of the IP packet
 * at the start of `packet`, whose addresses are already written, for `protocol` and a transport
 * segment of `length` bytes.
 */
export function pseudoHeaderSum(packet: Uint8Array, ipVersion: 4 | 6, protocol: number, length: number): number {
  let sum = protocol + length;
  const [from, to] = ipVersion === 4 ? [12, 20] : [8, 40];
  for (let i = from; i < to; i += 2) sum += (packet[i] << 8) | packet[i + 1];
  return sum;
}
