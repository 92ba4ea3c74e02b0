import { isIPv4, isIPv6 } from 'node:net';

type Range = readonly [base: string, prefixBits: number];

// Special-purpose IPv4 space (IANA registry): none of it may be reached from a tenant URL.
const NON_PUBLIC_IPV4: readonly Range[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches loopback on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes 255.255.255.255
];

// Inside 2000::/3 (global unicast) these are still not ordinary hosts.
const NON_PUBLIC_GLOBAL_IPV6: readonly Range[] = [
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
];

/**
 * Whether `ip` is an ordinary public unicast address that tenant-supplied URLs may reach.
 * Anything that is not a valid textual IP address is refused. IPv6 must lie in 2000::/3 outside
 * special-purpose blocks; addresses that embed IPv4 (IPv4-mapped, NAT64 64:ff9b::/96, 6to4) are
 * judged by the embedded IPv4 address. The local-use NAT64 prefix 64:ff9b:1::/48 is refused whole.
 */
export function isPublicUnicastAddress(ip: string): boolean {
  if (isIPv4(ip)) return isPublicIPv4(ipv4ToNumber(ip));
  if (isIPv6(ip)) return isPublicIPv6(ipv6ToBigInt(ip));
  return false;
}

function isPublicIPv4(value: number): boolean {
  return !NON_PUBLIC_IPV4.some((range) => inIPv4Range(value, range));
}

function isPublicIPv6(value: bigint): boolean {
  const embedded = embeddedIPv4(value);
  if (embedded !== undefined) return isPublicIPv4(embedded);
  if (!inIPv6Range(value, ['2000::', 3])) return false;
  return !NON_PUBLIC_GLOBAL_IPV6.some((range) => inIPv6Range(value, range));
}

/** The IPv4 address a packet to `value` really goes to, for the translation formats that embed one. */
function embeddedIPv4(value: bigint): number | undefined {
  const low32 = Number(value & 0xffff_ffffn);
  if (inIPv6Range(value, ['::ffff:0:0', 96])) return low32; // IPv4-mapped
  if (inIPv6Range(value, ['64:ff9b::', 96])) return low32; // NAT64 well-known prefix
  if (inIPv6Range(value, ['2002::', 16])) return Number((value >> 80n) & 0xffff_ffffn); // 6to4
  return undefined;
}

function inIPv4Range(value: number, [base, bits]: Range): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(value / size) === Math.floor(ipv4ToNumber(base) / size);
}

function inIPv6Range(value: bigint, [base, bits]: Range): boolean {
  const shift = BigInt(128 - bits);
  return value >> shift === ipv6ToBigInt(base) >> shift;
}

/** Caller guarantees `ip` passed `isIPv4` (four decimal parts, no leading zeros). */
function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Caller guarantees `ip` passed `isIPv6`; a zone id (`%eth0`) is ignored. */
function ipv6ToBigInt(ip: string): bigint {
  const text = withHexTail(ip.split('%')[0] ?? '');
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros: string[] = Array.from(
    { length: 8 - headGroups.length - tailGroups.length },
    () => '0',
  );
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Rewrites a trailing dotted quad (`::ffff:127.0.0.1`) as two hex groups. */
function withHexTail(ip: string): string {
  const lastColon = ip.lastIndexOf(':');
  const last = ip.slice(lastColon + 1);
  if (!isIPv4(last)) return ip;
  const value = ipv4ToNumber(last);
  const high = Math.floor(value / 0x10000).toString(16);
  const low = (value % 0x10000).toString(16);
  return `${ip.slice(0, lastColon + 1)}${high}:${low}`;
}
