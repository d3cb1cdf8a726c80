import type { Pool, PoolConfig } from 'pg';
import pg from 'pg';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/gito';

export interface PoolOptions {
  /** Shown in pg_stat_activity; default 'gito'. Use e.g. 'gito-node-2' to tell nodes apart. */
  applicationName?: string;
  /** Pool size; default 10. */
  max?: number;
  /** Server-side statement timeout in ms; default 30 s. 0 disables it. */
  statementTimeoutMs?: number;
  /** Server-side limit for a session that sits idle inside a transaction; default 60 s. */
  idleInTransactionTimeoutMs?: number;
  /** How long to wait for a new connection; default 10 s. */
  connectionTimeoutMs?: number;
  /** Called when an idle pooled connection fails (server restart, network). Default: console.warn. */
  onError?: (err: Error) => void;
  /** Anything else for pg's Pool; wins over the defaults above. */
  extra?: PoolConfig;
}

/**
 * A pg Pool with the defaults Gito wants everywhere.
 *
 * The timeouts travel as startup parameters, so they hold on every pooled connection without an
 * extra round trip. Note: the embedded PGlite server ignores startup parameters (it has one
 * backend session shared by all connections), so there they have no effect.
 *
 * An 'error' listener is always attached: without one, an idle client dropped by the server
 * would crash the process with an unhandled 'error' event.
 */
export function createPool(url: string = DEFAULT_DATABASE_URL, options: PoolOptions = {}): Pool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName ?? 'gito',
    max: options.max ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...options.extra,
  });
  const onError =
    options.onError ??
    ((err: Error) => console.warn(`gito db: idle connection error: ${err.message}`));
  pool.on('error', onError);
  return pool;
}

/** The database URL from the environment (DATABASE_URL), or the local default. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.DATABASE_URL;
  return url !== undefined && url !== '' ? url : DEFAULT_DATABASE_URL;
}
