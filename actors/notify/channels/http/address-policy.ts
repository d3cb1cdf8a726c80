import { BlockList, isIP } from 'node:net';

/**
 * Where user-given URLs (webhooks, Slack webhooks) may lead: the SSRF guard.
 *
 * Refused unless an operator allowlist admits them: loopback, unspecified (0.0.0.0, ::),
 * private (RFC 1918), carrier-grade NAT (100.64/10), link-local (169.254/16, fe80::/10, which
 * holds cloud metadata at 169.254.169.254), unique-local IPv6 (fc00::/7), multicast, and the
 * reserved and documentation ranges. IPv6 forms that embed an IPv4 address (::ffff:a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that address.
 *
 * The allowlist (GITO_WEBHOOK_ALLOW) is a comma-separated list of CIDRs, addresses and host
 * names (`*.example.com` matches subdomains): an address inside an allowed CIDR, or any address
 * of an allowed host name, is admitted.
 */

type RangeClass =
  | 'metadata'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'reserved';

// Checked in order: the first match names the refusal.
const RANGES: readonly [RangeClass, readonly string[]][] = [
  ['metadata', ['169.254.169.254/32', 'fd00:ec2::254/128']],
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['cgnat', ['100.64.0.0/10']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['unique-local', ['fc00::/7', 'fec0::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  [
    'reserved',
    [
      '192.0.0.0/24',
      '192.0.2.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4',
      '2001:db8::/32',
      '100::/64',
      // IPv4-compatible IPv6 (deprecated): never a real destination.
      '::/96',
    ],
  ],
];

function addSubnet(list: BlockList, cidr: string): void {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(address);
  if (family === 0) throw new Error(`'${cidr}' is not an IP address or CIDR`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const prefix = slash < 0 ? (family === 4 ? 32 : 128) : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
    throw new Error(`'${cidr}' has an invalid prefix length`);
  }
  list.addSubnet(address, prefix, type);
}

const CLASSES: readonly [RangeClass, BlockList][] = RANGES.map(([name, cidrs]) => {
  const list = new BlockList();
  for (const cidr of cidrs) addSubnet(list, cidr);
  return [name, list];
});

/** The 8 hextets of an IPv6 address (with or without an embedded dotted quad). */
function hextets(address: string): number[] | undefined {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const bytes = dotted[1]!.split('.').map(Number);
    tail.push((bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!);
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const left = parse(head);
  const right = [...parse(rest ?? ''), ...tail];
  const missing = 8 - left.length - right.length;
  if (rest === undefined && missing !== 0) return undefined;
  const all = [...left, ...new Array<number>(Math.max(0, missing)).fill(0), ...right];
  return all.length === 8 && all.every((h) => Number.isInteger(h) && h >= 0 && h <= 0xffff)
    ? all
    : undefined;
}

const quad = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/** The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any. */
export function embeddedIPv4(address: string): string | undefined {
  const h = hextets(address);
  if (h === undefined) return undefined;
  // ::ffff:a.b.c.d
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) return quad(h[6]!, h[7]!);
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (h[0] === 0x64 && h[1] === 0xff9b && h.slice(2, 6).every((x) => x === 0)) {
    return quad(h[6]!, h[7]!);
  }
  // 2002:AABB:CCDD::/48 (6to4)
  if (h[0] === 0x2002) return quad(h[1]!, h[2]!);
  return undefined;
}

/** Why an address is not a public destination, or undefined if it is one. */
export function classifyAddress(address: string): RangeClass | 'invalid' | undefined {
  let ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  let family = isIP(ip);
  if (family === 0) return 'invalid';
  if (family === 6) {
    const v4 = embeddedIPv4(ip);
    if (v4 !== undefined) {
      ip = v4;
      family = 4;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [name, list] of CLASSES) if (list.check(ip, type)) return name;
  return undefined;
}

export type AddressVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly range: string };

export class AddressPolicy {
  private readonly allowed = new BlockList();
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  /** `entries`: CIDRs, addresses, host names or `*.domain`; see the module comment. */
  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      const bare = entry.startsWith('[') ? entry.replace(/^\[|\](?=\/|$)/g, '') : entry;
      if (isIP(bare.split('/')[0]!) !== 0) {
        addSubnet(this.allowed, bare);
      } else if (entry.startsWith('*.') && /^[a-z0-9.-]+$/.test(entry.slice(2))) {
        this.suffixes.push(entry.slice(1));
      } else if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(entry)) {
        this.hosts.add(entry);
      } else {
        throw new Error(`allowlist entry '${raw}' is not a CIDR, an address or a host name`);
      }
    }
  }

  /** From a comma-separated list (GITO_WEBHOOK_ALLOW). */
  static parse(list: string | undefined): AddressPolicy {
    return new AddressPolicy((list ?? '').split(','));
  }

  /** An allowlisted host name: any address it resolves to is admitted. */
  hostAllowed(hostname: string): boolean {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(host) || this.suffixes.some((s) => host.endsWith(s));
  }

  /** May a connection for `hostname` go to `address`? */
  check(address: string, hostname?: string): AddressVerdict {
    const range = classifyAddress(address);
    if (range === undefined) return { ok: true };
    if (range === 'invalid') {
      return { ok: false, reason: `'${address}' is not an IP address`, range };
    }
    if (hostname !== undefined && this.hostAllowed(hostname)) return { ok: true };
    const ip = address.replace(/^\[|\]$/g, '');
    const type = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(ip, type)) return { ok: true };
    const v4 = type === 'ipv6' ? embeddedIPv4(ip) : undefined;
    if (v4 !== undefined && this.allowed.check(v4, 'ipv4')) return { ok: true };
    return {
      ok: false,
      range,
      reason: `${hostname !== undefined && hostname !== ip ? `${hostname} resolves to ` : ''}${ip}, a ${range} address (not allowlisted in GITO_WEBHOOK_ALLOW)`,
    };
  }
}
