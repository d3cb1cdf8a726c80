/** The piscina task: a chunk of a backtest, with a database pool per worker thread. */
import { threadId } from 'node:worker_threads';
import type { Pool } from 'pg';
import { createPool } from '../../../db/pool.ts';
import { type ChunkResult, type ChunkTask, runChunk } from './chunk.ts';

const pools = new Map<string, Pool>();

export default async function backtestChunk(
  input: ChunkTask & { readonly databaseUrl: string },
): Promise<ChunkResult> {
  let pool = pools.get(input.databaseUrl);
  if (pool === undefined) {
    pool = createPool(input.databaseUrl, { max: 2, applicationName: 'gito-backtest' });
    pools.set(input.databaseUrl, pool);
  }
  return runChunk(pool, input, threadId);
}
