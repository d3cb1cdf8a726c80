import type { ClientBase, Pool } from 'pg';
import { inTransaction } from '../sql.ts';
import { type AppendedRecord, appendPreparedInTransaction } from './append.ts';
import { type PrepareOptions, prepareEntry } from './prepare.ts';
import type { AuditEntry } from './record.ts';

/**
 * Writes one audit record in its own transaction: for changes made outside HTTP (the CLI, an
 * actor acknowledging an alert). Throws AuditEntryError for a malformed entry, or the database
 * error. Busy writers (the gateway) use AuditLog, which batches.
 */
export function recordAudit(
  pool: Pool,
  entry: AuditEntry,
  options: { now?: number } & PrepareOptions = {},
): Promise<AppendedRecord> {
  const prepared = prepareEntry(entry, options.now ?? Date.now(), options);
  return inTransaction(pool, async (client) => {
    const [record] = await appendPreparedInTransaction(client, [prepared]);
    return record!;
  });
}

/**
 * Writes audit records inside the caller's transaction, so that they commit or roll back with the
 * change they describe (e.g. an alert acknowledgement and its record). The tenant's chain stays
 * locked until that transaction ends: keep it short.
 */
export function recordAuditInTransaction(
  client: ClientBase,
  entries: readonly AuditEntry[],
  options: { now?: number } & PrepareOptions = {},
): Promise<AppendedRecord[]> {
  const now = options.now ?? Date.now();
  return appendPreparedInTransaction(
    client,
    entries.map((entry) => prepareEntry(entry, now, options)),
  );
}
