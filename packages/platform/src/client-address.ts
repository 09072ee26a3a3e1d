import { isIPv6 } from 'node:net';

/**
 * The key a client is counted under (rate limits, lockouts): an IPv4 address
 * as is; an IPv6 address by its /64, since one household or host gets a whole
 * /64 and can change addresses inside it at will; an IPv4-mapped IPv6 address
 * as the IPv4 it is. At most 64 characters.
 */
export function clientKey(address: string): string {
  const trimmed = address.trim().toLowerCase();
  if (trimmed.startsWith('::ffff:') && trimmed.includes('.')) return trimmed.slice('::ffff:'.length);
  // An IPv4 address has no colon: most clients are answered without the IPv6 pattern (a visible
  // share of the gateway's CPU per request when it ran for every one).
  if (!trimmed.includes(':') || !isIPv6(trimmed)) return trimmed.slice(0, 64);
  return `${expandIPv6(trimmed).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const withoutZone = address.split('%')[0]!;
  const [head, tail] = withoutZone.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headParts.length - tailParts.length;
  const parts = tail === undefined ? headParts : [...headParts, ...Array(missing).fill('0'), ...tailParts];
  return parts.map((part) => Number.parseInt(part || '0', 16).toString(16));
}
