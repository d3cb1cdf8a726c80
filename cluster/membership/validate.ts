import type { Member, Topology } from './types.ts';

/** Node ids and cluster names: letters, digits, `.`, `_`, `-`; 1 to 64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** `host:port`: a hostname, an IPv4 address or a bracketed IPv6 address, and a port 1-65535. */
const ADDRESS_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})):(\d{1,5})$/;

export class InvalidMemberError extends Error {
  override readonly name = 'InvalidMemberError';
}

export function validateId(what: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new InvalidMemberError(
      `${what} must be 1-64 characters of letters, digits, '.', '_' or '-', got ${JSON.stringify(id)}`,
    );
  }
}

export function validateAddress(address: unknown): asserts address is string {
  const match = typeof address === 'string' ? ADDRESS_PATTERN.exec(address) : null;
  const port = match ? Number(match[2]) : 0;
  if (match === null || port < 1 || port > 65_535) {
    throw new InvalidMemberError(
      `member address must be host:port (port 1-65535, IPv6 in brackets), got ${JSON.stringify(address)}`,
    );
  }
}

/** Throws InvalidMemberError with a message naming the bad field. */
export function validateMember(member: Member): void {
  if (typeof member !== 'object' || member === null) {
    throw new InvalidMemberError('member must be an object { id, address, incarnation }');
  }
  validateId('member id', member.id);
  validateAddress(member.address);
  if (!Number.isSafeInteger(member.incarnation) || member.incarnation <= 0) {
    throw new InvalidMemberError(
      `member incarnation must be a positive integer (process start time in ms), got ${String(member.incarnation)}`,
    );
  }
}

/** A plain, frozen copy holding only the Member fields (callers may pass richer objects). */
export function copyMember(member: Member): Member {
  return Object.freeze({
    id: member.id,
    address: member.address,
    incarnation: member.incarnation,
    ...(member.hosts === false ? { hosts: false } : {}),
  });
}

export function sameMember(a: Member, b: Member): boolean {
  return (
    a.id === b.id &&
    a.address === b.address &&
    a.incarnation === b.incarnation &&
    (a.hosts !== false) === (b.hosts !== false)
  );
}

/** A frozen topology with its members sorted by id. */
export function makeTopology(epoch: number, members: Iterable<Member>): Topology {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return Object.freeze({ epoch, members: Object.freeze(sorted) });
}

export const EMPTY_TOPOLOGY: Topology = makeTopology(0, []);

/**
 * The next epoch after `previous`: strictly greater than both `previous` and `known`, and at
 * least `nowMs`. The wall-clock floor keeps epochs increasing when the epoch counter itself is
 * lost (Redis restarted without persistence, or an embedded process restarted against a
 * persistent state store that holds epochs as fencing tokens).
 */
export function nextEpoch(previous: number, known: number, nowMs: number): number {
  return Math.max(previous + 1, known + 1, Math.floor(nowMs));
}
