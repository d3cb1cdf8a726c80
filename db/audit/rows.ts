import type { ChainedFields, PersonalFields } from './chain.ts';
import type { ActorKind, AuditDiff, AuditOutcome, AuditRecord } from './record.ts';

/** The columns every audit read selects, in the shape of AuditRow. */
export const AUDIT_COLUMNS = `tenant_id, seq::text AS seq,
  (extract(epoch FROM at) * 1000)::bigint::text AS at_ms,
  actor_kind, actor_id, action, resource_type, resource_id, request_id, status, outcome,
  personal_digest, prev_hash, hash, actor_display, ip, user_agent, diff::text AS diff,
  encode(personal_salt, 'hex') AS personal_salt, pseudonymised_by::text AS pseudonymised_by`;

export interface AuditRow {
  tenant_id: string;
  seq: string;
  at_ms: string;
  actor_kind: ActorKind;
  actor_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  request_id: string | null;
  status: number | null;
  outcome: AuditOutcome;
  personal_digest: string;
  prev_hash: string;
  hash: string;
  actor_display: string | null;
  ip: string | null;
  user_agent: string | null;
  diff: string | null;
  personal_salt: string;
  pseudonymised_by: string | null;
}

export function chainedFieldsOf(row: AuditRow): ChainedFields {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    at: Number(row.at_ms),
    actorKind: row.actor_kind,
    actorId: row.actor_id,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    requestId: row.request_id,
    status: row.status,
    outcome: row.outcome,
    personalDigest: row.personal_digest,
    prevHash: row.prev_hash,
  };
}

export function personalFieldsOf(row: AuditRow): PersonalFields {
  return {
    actorDisplay: row.actor_display,
    ip: row.ip,
    userAgent: row.user_agent,
    diff: row.diff === null ? null : JSON.parse(row.diff),
  };
}

export function recordOf(row: AuditRow): AuditRecord {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    at: new Date(Number(row.at_ms)).toISOString(),
    actor: { kind: row.actor_kind, id: row.actor_id, display: row.actor_display },
    action: row.action,
    resource: { type: row.resource_type, id: row.resource_id },
    diff: row.diff === null ? null : (JSON.parse(row.diff) as AuditDiff),
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
    result: { status: row.status, outcome: row.outcome },
    prevHash: row.prev_hash,
    hash: row.hash,
    pseudonymisedBy: row.pseudonymised_by === null ? null : Number(row.pseudonymised_by),
  };
}
