/**
 * Small helpers shared by the gateway's queries. Every query in db/gateway takes the tenant id as
 * its first argument after the pool and filters by it: isolation is enforced where the rows are
 * read, not left to the caller.
 */
import type { Pool, PoolClient } from 'pg';

export type Queryable = Pick<Pool | PoolClient, 'query'>;

/** A page of rows, read with `limit + 1` so the caller knows whether more follow. */
export interface Slice<T> {
  readonly items: T[];
  readonly more: boolean;
}

export function slice<T>(rows: T[], limit: number): Slice<T> {
  const more = rows.length > limit;
  return { items: more ? rows.slice(0, limit) : rows, more };
}

/** ISO 8601 of a timestamptz column (pg returns Date), or null. */
export function iso(value: Date | null): string | null {
  return value === null ? null : value.toISOString();
}

/** Escapes LIKE wildcards so user input matches literally (with the default '\' escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The SQLSTATE of a pg error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** A unique constraint refused the row (23505). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (sqlState(err) !== '23505') return false;
  return constraint === undefined || (err as { constraint?: string }).constraint === constraint;
}

/** Runs `fn` in a transaction on one pooled connection. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Builds `SET a = $n, b = $m` for the fields of a partial update that are present (undefined
 * means "leave as is"; null is a value). Returns undefined when nothing is to change.
 */
export function setClause(
  fields: Readonly<Record<string, { column: string; value: unknown; cast?: string } | undefined>>,
  params: unknown[],
): string | undefined {
  const parts: string[] = [];
  for (const field of Object.values(fields)) {
    if (field === undefined || field.value === undefined) continue;
    params.push(field.value);
    parts.push(`${field.column} = $${params.length}${field.cast ?? ''}`);
  }
  return parts.length === 0 ? undefined : `SET ${parts.join(', ')}`;
}
