/**
 * `npm run db:migrate`: applies pending migrations and creates the telemetry partitions ahead,
 * against DATABASE_URL (default postgres://postgres@127.0.0.1:5432/gito). When that database
 * does not exist yet, it is created first (the user needs CREATEDB).
 */
import pg from 'pg';
import { createPool, databaseUrlFromEnv } from './pool.ts';
import { prepareDatabase } from './prepare.ts';

const log = (message: string): void => console.log(`db:migrate: ${message}`);

async function createDatabaseIfMissing(url: string): Promise<void> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // invalid_catalog_name
  } finally {
    await probe.end().catch(() => {});
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  try {
    log(`database ${name} does not exist; creating it`);
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
}

async function main(): Promise<void> {
  const url = databaseUrlFromEnv();
  const shown = new URL(url);
  if (shown.password !== '') shown.password = '***';
  log(`target ${shown.toString()}`);
  await createDatabaseIfMissing(url);
  const pool = createPool(url, { max: 2, applicationName: 'gito-migrate' });
  try {
    const result = await prepareDatabase(pool, { log });
    log(`schema version ${result.version}, ${result.applied.length} migration(s) applied`);
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`db:migrate failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
