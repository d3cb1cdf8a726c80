import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../db/embedded.ts';
import { migrate } from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';

/**
 * Test databases. Each test file (or test) gets its own database and drops it afterwards, so
 * tests share no state and run in any order:
 *
 *   let db: TestDatabase;
 *   beforeAll(async () => { db = await createTestDatabase(); });
 *   afterAll(() => db.drop());
 *
 * The server is GITO_TEST_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres, trust
 * auth); databases are named gito_test_<time>_<random>. Databases left behind by a crashed run
 * (older than two hours) are dropped the first time this module creates one.
 */

export const ADMIN_URL =
  process.env.GITO_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const PREFIX = 'gito_test_';
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  readonly url: string;
  readonly name: string;
  /** Drops the database (terminating leftover connections). Idempotent. */
  drop(): Promise<void>;
}

export interface MigratedTestDatabase extends TestDatabase {
  /** A pool on the migrated database; drop() ends it first. */
  readonly pool: Pool;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'gito-test' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

let swept: Promise<void> | undefined;

async function sweepStale(): Promise<void> {
  await withAdmin(async (admin) => {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`${PREFIX}%`],
    );
    for (const { datname } of rows) {
      const created = Number.parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
      if (Number.isFinite(created) && Date.now() - created > STALE_AFTER_MS) {
        await admin.query(`DROP DATABASE IF EXISTS ${quote(datname)} WITH (FORCE)`).catch(() => {});
      }
    }
  });
}

/** A new empty database on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  swept ??= sweepStale().catch(() => {});
  await swept;
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(5).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${quote(name)}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop() {
      dropped ??= withAdmin(async (admin) => {
        await admin.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
      });
      return dropped;
    },
  };
}

/**
 * An in-memory embedded PostgreSQL (PGlite over the wire protocol) with the same shape.
 * Starting one costs about 2.5 s: use one per test file at most.
 */
export async function createPgliteDatabase(): Promise<TestDatabase> {
  const embedded = await startEmbeddedPostgres();
  return { url: embedded.url, name: 'pglite', drop: () => embedded.stop() };
}

export type Backend = 'postgres' | 'pglite';

export const BACKENDS: readonly Backend[] = ['postgres', 'pglite'];

/** A migrated database with a pool, on real PostgreSQL or on embedded PGlite. */
export async function createMigratedTestDatabase(
  backend: Backend = 'postgres',
): Promise<MigratedTestDatabase> {
  const db = backend === 'postgres' ? await createTestDatabase() : await createPgliteDatabase();
  const pool = createPool(db.url, { max: 5, applicationName: 'gito-test', onError: () => {} });
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    await db.drop();
    throw err;
  }
  let dropped: Promise<void> | undefined;
  return {
    url: db.url,
    name: db.name,
    pool,
    drop() {
      dropped ??= (async () => {
        await pool.end();
        await db.drop();
      })();
      return dropped;
    },
  };
}
