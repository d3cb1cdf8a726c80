import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded PostgreSQL of `npm start`: PGlite (PostgreSQL compiled to WASM, in this process)
 * served over the PostgreSQL wire protocol by @electric-sql/pglite-socket, so the same `pg` code
 * runs against it as against a real server.
 *
 * What differs from a real server (all because PGlite is ONE backend session):
 * - The socket server multiplexes connections onto that session. Its default is one connection
 *   (a second pooled connection is refused), so maxConnections is raised here. Queries run one
 *   at a time; a transaction holds the session until it ends, other connections wait. Never
 *   hold a transaction open while awaiting work on another connection: that deadlocks.
 * - Session state is shared by every connection: SET, temporary tables, and advisory locks
 *   (re-entrant, so they do not exclude). Startup parameters (application_name,
 *   statement_timeout) are ignored.
 * - It is for one process: a lock file next to the data folder refuses a second opener.
 *
 * Measured here (2 cores): a fresh in-memory or new on-disk database takes about 2.5-3 s to start
 * (initdb runs); reopening an existing data folder about 0.35 s.
 */

export const DEFAULT_EMBEDDED_DATA_DIR = 'data/pg';

export interface EmbeddedPostgresOptions {
  /** Data folder (created if missing). Omit for an in-memory database (tests). */
  dataDir?: string;
  /** TCP port on 127.0.0.1; default 0 = any free port (see `port` in the result). */
  port?: number;
  host?: string;
  /** Connections the socket server accepts at once; default 64. */
  maxConnections?: number;
  log?: (message: string) => void;
}

export interface EmbeddedPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  readonly db: PGlite;
  /** Milliseconds PGlite took to open (initdb included on first start). */
  readonly startupMs: number;
  /** Stops the server and closes the database. End your pg pools first. Idempotent. */
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  const lockFile = dataDir === undefined ? undefined : `${dataDir}.lock`;
  if (dataDir !== undefined && lockFile !== undefined) {
    await mkdir(dirname(dataDir), { recursive: true });
    await acquireLock(lockFile);
  }
  let db: PGlite | undefined;
  try {
    const started = performance.now();
    db = await PGlite.create(dataDir === undefined ? {} : { dataDir });
    const startupMs = Math.round(performance.now() - started);
    const server = new PGLiteSocketServer({
      db,
      host,
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? 64,
    });
    await server.start();
    const port = Number(server.getServerConn().split(':').pop());
    const url = `postgres://postgres@${host}:${port}/postgres`;
    options.log?.(
      `embedded PostgreSQL (PGlite) on ${host}:${port}, data ${dataDir ?? 'in memory'}, opened in ${startupMs} ms`,
    );
    const opened = db;
    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      db: opened,
      startupMs,
      stop() {
        stopping ??= (async () => {
          try {
            await server.stop();
            // Handlers roll back open transactions on detach: let that run before closing.
            await new Promise((r) => setImmediate(r));
            await opened.close();
          } finally {
            if (lockFile !== undefined) await rm(lockFile, { force: true });
          }
        })();
        return stopping;
      },
    };
  } catch (err) {
    await db?.close().catch(() => {});
    if (lockFile !== undefined) await rm(lockFile, { force: true });
    throw err;
  }
}

/** Creates `file` holding our pid; takes over a lock whose process is gone. */
async function acquireLock(file: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new Error(
        `embedded PostgreSQL data folder is in use by process ${pid} (lock file ${file})`,
      );
    }
    await rm(file, { force: true });
  }
  throw new Error(`could not take the lock file ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
