import type { Pool, PoolClient } from 'pg';

/** Runs `fn` in a transaction on one pooled connection; rolls back on any error. */
export async function inTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
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

/** SQL for a millisecond timestamp parameter. */
export const msParam = (n: number) =>
  `(timestamptz 'epoch' + $${n}::bigint * interval '1 millisecond')`;
/** SQL for a timestamptz column as milliseconds (text, to survive bigint parsing). */
export const msColumn = (col: string) => `(extract(epoch FROM ${col}) * 1000)::bigint::text`;
