/** Audit records: what callers write (AuditEntry) and what the store returns (AuditRecord). */

export type ActorKind = 'user' | 'api_key' | 'device' | 'system' | 'anonymous';
export const ACTOR_KINDS: readonly ActorKind[] = [
  'user',
  'api_key',
  'device',
  'system',
  'anonymous',
];

export type AuditOutcome = 'ok' | 'refused' | 'error';
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['ok', 'refused', 'error'];

/** The chain of requests that carry no tenant (anonymous refusals). Tenant ids cannot start with '_'. */
export const GLOBAL_CHAIN = '_global';

/** Action of the record an erasure writes; verification reads its list of rewritten records. */
export const ERASURE_ACTION = 'user.erase';
/** Action of the record a retention run writes; verification reads the anchor it confirms. */
export const RETENTION_ACTION = 'audit.retention';

export interface AuditActor {
  readonly kind: ActorKind;
  /** users.id, api_keys.id, device key, or a component name for 'system' ('cli', 'retention'). */
  readonly id?: string;
  /** Who, for people (email, key name and prefix). Personal data: pseudonymised on erasure. */
  readonly display?: string;
}

export interface AuditEntry {
  readonly tenantId: string;
  /** Epoch ms; default the store's clock. */
  readonly at?: number;
  readonly actor: AuditActor;
  /** e.g. 'rule.update', 'alert.acknowledge', 'POST /api/v1/users'. */
  readonly action: string;
  readonly resourceType: string;
  /**
   * An opaque id (never an email or a name): resource ids are chained as they are and cannot be
   * pseudonymised later.
   */
  readonly resourceId?: string;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly requestId?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  /** Default { outcome: 'ok' }. */
  readonly result?: { readonly status?: number; readonly outcome: AuditOutcome };
  /** Secrets to redact from before/after besides the fields named like secrets. */
  readonly redact?: { readonly fields?: readonly string[]; readonly values?: readonly string[] };
}

/** The stored diff: before and after with secrets redacted, and the top-level keys that changed. */
export interface AuditDiff {
  readonly before?: unknown;
  readonly after?: unknown;
  readonly changed?: readonly string[];
  /** Set instead of before/after when they were too large to keep. */
  readonly truncated?: { readonly bytes: number; readonly sha256: string };
}

export interface AuditRecord {
  readonly tenantId: string;
  readonly seq: number;
  /** ISO 8601 with milliseconds. */
  readonly at: string;
  readonly actor: { kind: ActorKind; id: string | null; display: string | null };
  readonly action: string;
  readonly resource: { type: string; id: string | null };
  readonly diff: AuditDiff | null;
  readonly requestId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly result: { status: number | null; outcome: AuditOutcome };
  readonly prevHash: string;
  readonly hash: string;
  /** The personal fields were rewritten by an erasure (seq of its record). */
  readonly pseudonymisedBy: number | null;
}

/** Thrown for an entry the store cannot accept; names the field. */
export class AuditEntryError extends Error {
  override readonly name = 'AuditEntryError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`audit entry: ${field}: ${message}`);
  }
}
