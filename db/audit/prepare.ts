import { randomBytes } from 'node:crypto';
import { sanitizeText } from '../stores/json.ts';
import { canonicalJson, toJsonValue } from './canonical.ts';
import { personalDigest, sha256Hex } from './chain.ts';
import {
  ACTOR_KINDS,
  type ActorKind,
  AUDIT_OUTCOMES,
  type AuditDiff,
  type AuditEntry,
  AuditEntryError,
  type AuditOutcome,
} from './record.ts';
import { redactSecrets } from './redact.ts';

/** An entry checked, cleaned, redacted and digested: everything but its place in the chain. */
export interface PreparedEntry {
  readonly tenantId: string;
  readonly at: number;
  readonly actorKind: ActorKind;
  readonly actorId: string | null;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string | null;
  readonly requestId: string | null;
  readonly status: number | null;
  readonly outcome: AuditOutcome;
  readonly actorDisplay: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** Canonical JSON of the diff (stored as JSONB), or null. */
  readonly diffText: string | null;
  readonly salt: Buffer;
  readonly personalDigest: string;
}

export interface PrepareOptions {
  /** A diff whose canonical JSON is larger is replaced by its size and digest; default 256 KiB. */
  readonly maxDiffBytes?: number;
}

export const DEFAULT_MAX_DIFF_BYTES = 256 * 1024;

const LIMITS = {
  tenantId: 64,
  actorId: 200,
  action: 200,
  resourceType: 100,
  resourceId: 200,
  requestId: 200,
  actorDisplay: 320,
  ip: 64,
  userAgent: 512,
} as const;

/**
 * Checks an entry and turns it into what is stored. Required fields that are missing or malformed
 * throw AuditEntryError naming the field; optional text is cleaned and cut to a sane length (an
 * audit record must not be refused for an overlong user agent).
 */
export function prepareEntry(
  entry: AuditEntry,
  now: number,
  options: PrepareOptions = {},
): PreparedEntry {
  const tenantId = required(entry.tenantId, 'tenantId', LIMITS.tenantId);
  if (entry.actor === null || typeof entry.actor !== 'object') {
    throw new AuditEntryError('actor', 'must be an object with a kind');
  }
  const actorKind = entry.actor.kind;
  if (!ACTOR_KINDS.includes(actorKind)) {
    throw new AuditEntryError('actor.kind', `must be one of ${ACTOR_KINDS.join(', ')}`);
  }
  const at = entry.at ?? now;
  if (!Number.isFinite(at)) throw new AuditEntryError('at', 'must be a finite epoch ms');
  const outcome = entry.result?.outcome ?? 'ok';
  if (!AUDIT_OUTCOMES.includes(outcome)) {
    throw new AuditEntryError('result.outcome', `must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  }
  const status = entry.result?.status;
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 599)) {
    throw new AuditEntryError('result.status', 'must be an HTTP status (100-599)');
  }

  const diff = prepareDiff(entry, options.maxDiffBytes ?? DEFAULT_MAX_DIFF_BYTES);
  const personal = {
    actorDisplay: optional(entry.actor.display, LIMITS.actorDisplay),
    ip: optional(entry.ip, LIMITS.ip),
    userAgent: optional(entry.userAgent, LIMITS.userAgent),
    diff,
  };
  const salt = randomBytes(16);
  return {
    tenantId,
    at: Math.trunc(at),
    actorKind,
    actorId: optional(entry.actor.id, LIMITS.actorId),
    action: required(entry.action, 'action', LIMITS.action),
    resourceType: required(entry.resourceType, 'resourceType', LIMITS.resourceType),
    resourceId: optional(entry.resourceId, LIMITS.resourceId),
    requestId: optional(entry.requestId, LIMITS.requestId),
    status: status ?? null,
    outcome,
    actorDisplay: personal.actorDisplay,
    ip: personal.ip,
    userAgent: personal.userAgent,
    diffText: diff === null ? null : canonicalJson(diff),
    salt,
    personalDigest: personalDigest(salt, personal),
  };
}

/** before/after as JSON values with secrets redacted, plus the top-level keys that changed. */
function prepareDiff(entry: AuditEntry, maxBytes: number): AuditDiff | null {
  if (entry.before === undefined && entry.after === undefined) return null;
  const before = redactSecrets(toJsonValue(entry.before), entry.redact);
  const after = redactSecrets(toJsonValue(entry.after), entry.redact);
  const diff: { before?: unknown; after?: unknown; changed?: string[] } = {};
  if (before !== undefined) diff.before = before;
  if (after !== undefined) diff.after = after;
  const changed = changedKeys(before, after);
  if (changed !== undefined) diff.changed = changed;
  const text = canonicalJson(diff);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBytes) return diff;
  return {
    ...(changed === undefined ? {} : { changed }),
    truncated: { bytes, sha256: sha256Hex(text) },
  };
}

function changedKeys(before: unknown, after: unknown): string[] | undefined {
  if (!isPlainObject(before) || !isPlainObject(after)) return undefined;
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => canonicalJson(before[key]) !== canonicalJson(after[key])).sort();
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function required(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new AuditEntryError(field, 'must be a non-empty string');
  }
  return cut(sanitizeText(value), max);
}

function optional(value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null;
  const text = sanitizeText(String(value));
  return text === '' ? null : cut(text, max);
}

/** Cuts on a code point boundary. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : Array.from(text).slice(0, max).join('');
}
