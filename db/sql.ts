/** SQL helpers every store shares: transactions and exact millisecond timestamps. */
import type { Pool, PoolClient } from 'pg';

/** Something that runs a query: a pool, or a client inside the caller's transaction. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;

/** SQL for a millisecond timestamp parameter ($n), exact (no float seconds on the way). */
export const msParam = (n: number): string =>
  `(timestamptz 'epoch' + $${n}::bigint * interval '1 millisecond')`;

/** SQL for a timestamptz column as milliseconds (text, which survives bigint parsing). */
export const msColumn = (col: string): string =>
  `(extract(epoch FROM ${col}) * 1000)::bigint::text`;

/** Milliseconds for a bigint parameter: finite and whole. */
export function ms(value: number, field: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`${field} must be a finite time, got ${value}`);
  return Math.trunc(value);
}

/** Runs `fn` in a transaction on one pooled connection; rolls back on any error. */
export async function inTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    // A connection whose ROLLBACK failed is in an unknown state: do not hand it out again.
    client.release(broken);
  }
}
