import { hostname } from 'node:os';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { GitoConfig } from './config.ts';

/** The process's logger (JSON lines, tagged with the node) and metrics registry. */
export function createObservability(config: GitoConfig): { logger: Logger; registry: Registry } {
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId, host: hostname() } });
  const registry = new Registry();
  registry.setDefaultLabels({ node: config.nodeId });
  collectDefaultMetrics({ register: registry });
  return { logger, registry };
}

/** /readyz check: the database answers a trivial query. */
export function databaseReady(pool: Pool): () => Promise<void> {
  return async () => {
    await pool.query('select 1');
  };
}
