import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import {
  type AuditEntry,
  type AuditLog,
  redactSecrets,
  registerAuditMetrics,
  toJsonValue,
} from '../../db/audit/index.ts';
import { auditEntryOf, isAudited } from './entry.ts';

export interface AuditPluginOptions {
  /** The writer (one per process; it batches records of a tenant). */
  readonly log: AuditLog;
  /** Where gito_audit_* metrics go. */
  readonly registry?: Registry;
}

/**
 * Writes an audit record for every POST/PUT/PATCH/DELETE, successful or refused (401, 403,
 * validation errors, 404), before the response leaves: a client that got an answer to a mutation
 * can count on its record being stored. The write waits out a slow or briefly unavailable
 * database (the writer retries for a few seconds); if it still fails, the request is answered as
 * it would have been, and the record is logged (secrets redacted) and counted in
 * gito_audit_write_errors_total. Call on the root instance, before the routes.
 */
export function installAudit(app: FastifyInstance, options: AuditPluginOptions): void {
  if (options.registry !== undefined) registerAuditMetrics(options.registry, options.log.stats);
  app.addHook('onSend', async (request, reply, payload) => {
    if (!isAudited(request, reply)) return payload;
    let entry: AuditEntry | undefined;
    try {
      entry = auditEntryOf(request, reply);
      await options.log.append(entry);
    } catch (err) {
      // The writer counts its own failures; a failure to build the entry is counted here.
      if (entry === undefined) options.log.stats.failures++;
      request.log.error(
        { err, audit: entry === undefined ? undefined : loggable(entry) },
        'audit record not written',
      );
    }
    return payload;
  });
}

/** The entry as it may appear in logs: before/after redacted like the stored diff. */
function loggable(entry: AuditEntry): Record<string, unknown> {
  const { before, after, redact, ...rest } = entry;
  return {
    ...rest,
    before: redactSecrets(toJsonValue(before), redact),
    after: redactSecrets(toJsonValue(after), redact),
  };
}
