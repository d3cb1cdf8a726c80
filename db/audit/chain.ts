import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import type { ActorKind, AuditOutcome } from './record.ts';

/**
 * The hash chain. Each record's hash covers its public fields (no personal data) and the previous
 * record's hash; its personal fields are covered through a salted digest that is part of the
 * public fields. See docs/audit-and-gdpr.md.
 */

/** prev_hash of a tenant's first record, and the anchor of a chain nothing was deleted from. */
export const GENESIS_HASH = '0'.repeat(64);

/** Version of the hashed layout; part of every hash so that a new layout cannot be confused. */
const LAYOUT = 1;

export interface ChainedFields {
  readonly tenantId: string;
  readonly seq: number;
  /** Epoch ms. */
  readonly at: number;
  readonly actorKind: ActorKind;
  readonly actorId: string | null;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string | null;
  readonly requestId: string | null;
  readonly status: number | null;
  readonly outcome: AuditOutcome;
  readonly personalDigest: string;
  readonly prevHash: string;
}

export interface PersonalFields {
  readonly actorDisplay: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** A JSON value (already redacted and normalised) or null. */
  readonly diff: unknown;
}

export function sha256Hex(...parts: Array<string | Buffer>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** hash = sha256(prev_hash || "\n" || canonical JSON of the chained fields). */
export function recordHash(fields: ChainedFields): string {
  const body = canonicalJson({
    v: LAYOUT,
    tenantId: fields.tenantId,
    seq: fields.seq,
    at: fields.at,
    actor: { kind: fields.actorKind, id: fields.actorId },
    action: fields.action,
    resource: { type: fields.resourceType, id: fields.resourceId },
    requestId: fields.requestId,
    result: { status: fields.status, outcome: fields.outcome },
    personalDigest: fields.personalDigest,
    prevHash: fields.prevHash,
  });
  return sha256Hex(fields.prevHash, '\n', body);
}

/**
 * sha256(salt || canonical JSON of the personal fields). The random salt (16 bytes per record)
 * keeps the digest from confirming a guess ("was this alice@example.com?").
 */
export function personalDigest(salt: Buffer, fields: PersonalFields): string {
  return sha256Hex(
    salt,
    canonicalJson({
      actorDisplay: fields.actorDisplay,
      ip: fields.ip,
      userAgent: fields.userAgent,
      diff: fields.diff,
    }),
  );
}
