import type { Pool } from 'pg';
import type { ActorKind, AuditOutcome, AuditRecord } from './record.ts';
import { AUDIT_COLUMNS, type AuditRow, recordOf } from './rows.ts';

/** Filters of an audit search or export; all optional, combined with AND. */
export interface AuditFilter {
  readonly actorKind?: ActorKind;
  readonly actorId?: string;
  /** Exact action, or a prefix ending in '*' ('rule.*'). */
  readonly action?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly outcome?: AuditOutcome;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, exclusive. */
  readonly to?: number;
  /** Free text: case-insensitive substring of action, resource, actor display or diff. */
  readonly text?: string;
}

export interface AuditPage {
  readonly records: AuditRecord[];
  /** Pass as `beforeSeq` for the next (older) page; null on the last page. */
  readonly nextBeforeSeq: number | null;
}

export const MAX_PAGE_SIZE = 500;

/** Escapes LIKE wildcards so that user text matches literally. */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** WHERE clause and parameters for a tenant and a filter; parameters start at $1. */
function whereOf(tenantId: string, filter: AuditFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [tenantId];
  const clauses = ['tenant_id = $1'];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(clause(`$${params.length}`));
  };
  if (filter.actorKind !== undefined) add((p) => `actor_kind = ${p}`, filter.actorKind);
  if (filter.actorId !== undefined) add((p) => `actor_id = ${p}`, filter.actorId);
  if (filter.action !== undefined) {
    if (filter.action.endsWith('*')) {
      add((p) => `action LIKE ${p}`, `${likeEscape(filter.action.slice(0, -1))}%`);
    } else add((p) => `action = ${p}`, filter.action);
  }
  if (filter.resourceType !== undefined) add((p) => `resource_type = ${p}`, filter.resourceType);
  if (filter.resourceId !== undefined) add((p) => `resource_id = ${p}`, filter.resourceId);
  if (filter.outcome !== undefined) add((p) => `outcome = ${p}`, filter.outcome);
  if (filter.from !== undefined) {
    add((p) => `at >= timestamptz 'epoch' + ${p}::bigint * interval '1 millisecond'`, filter.from);
  }
  if (filter.to !== undefined) {
    add((p) => `at < timestamptz 'epoch' + ${p}::bigint * interval '1 millisecond'`, filter.to);
  }
  if (filter.text !== undefined && filter.text !== '') {
    add(
      (p) =>
        `(action ILIKE ${p} OR resource_type ILIKE ${p} OR resource_id ILIKE ${p}
          OR actor_id ILIKE ${p} OR actor_display ILIKE ${p} OR diff::text ILIKE ${p})`,
      `%${likeEscape(filter.text)}%`,
    );
  }
  return { sql: clauses.join(' AND '), params };
}

/** One page of a tenant's records matching `filter`, newest first. */
export async function searchAudit(
  pool: Pool,
  tenantId: string,
  filter: AuditFilter,
  page: { limit?: number; beforeSeq?: number } = {},
): Promise<AuditPage> {
  const limit = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.trunc(page.limit ?? 50)));
  const where = whereOf(tenantId, filter);
  const params = [...where.params];
  let sql = where.sql;
  if (page.beforeSeq !== undefined) {
    params.push(page.beforeSeq);
    sql += ` AND seq < $${params.length}`;
  }
  params.push(limit + 1);
  const { rows } = await pool.query<AuditRow>(
    `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE ${sql} ORDER BY audit_log.seq DESC LIMIT $${params.length}`,
    params,
  );
  const more = rows.length > limit;
  const records = rows.slice(0, limit).map(recordOf);
  return { records, nextBeforeSeq: more ? records[records.length - 1]!.seq : null };
}

/**
 * A tenant's records matching `filter`, oldest first (chain order), read in pages of `pageSize`
 * by seq so that a long export holds no connection or snapshot between pages.
 */
export async function* exportAudit(
  pool: Pool,
  tenantId: string,
  filter: AuditFilter,
  options: { pageSize?: number } = {},
): AsyncGenerator<AuditRecord> {
  const pageSize = Math.max(1, Math.min(10_000, options.pageSize ?? 1000));
  const where = whereOf(tenantId, filter);
  let afterSeq = 0;
  for (;;) {
    const params = [...where.params, afterSeq, pageSize];
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log
        WHERE ${where.sql} AND seq > $${params.length - 1}
        ORDER BY audit_log.seq LIMIT $${params.length}`,
      params,
    );
    for (const row of rows) yield recordOf(row);
    if (rows.length < pageSize) return;
    afterSeq = Number(rows[rows.length - 1]!.seq);
  }
}
