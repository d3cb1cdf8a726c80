import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checksumOf,
  DEFAULT_MIGRATIONS_DIR,
  loadMigrations,
  MigrationError,
  migrate,
} from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';
import { createTestDatabase, type TestDatabase } from './helpers.ts';

// Each test gets a fresh database: migrations are about what an empty or half-migrated
// database does.
let db: TestDatabase;
let pools: Pool[];
let dir: string;

function pool(): Pool {
  const p = createPool(db.url, { max: 2, onError: () => {} });
  pools.push(p);
  return p;
}

async function files(entries: Record<string, string>): Promise<void> {
  for (const [name, sql] of Object.entries(entries)) await writeFile(join(dir, name), sql);
}

async function recorded(p: Pool): Promise<{ version: number; name: string; checksum: string }[]> {
  const { rows } = await p.query(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  return rows;
}

beforeEach(async () => {
  db = await createTestDatabase();
  pools = [];
  dir = await mkdtemp(join(tmpdir(), 'gito-migrations-'));
});

afterEach(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('migrate', () => {
  it('applies the project migrations once and records them; a second run applies nothing', async () => {
    const p = pool();
    const logs: string[] = [];
    const first = await migrate(p, { log: (m) => logs.push(m) });
    const shipped = await loadMigrations();
    expect(shipped.length).toBeGreaterThan(0);
    expect(first.applied.map((a) => a.version)).toEqual(shipped.map((m) => m.version));
    expect(first.version).toBe(shipped[shipped.length - 1]!.version);
    expect(logs.some((l) => l.startsWith('applied 0001_core'))).toBe(true);
    const rows = await recorded(p);
    expect(rows.map((r) => r.checksum)).toEqual(shipped.map((m) => m.checksum));

    const second = await migrate(p);
    expect(second.applied).toEqual([]);
    expect(second.version).toBe(first.version);
    expect(await recorded(p)).toEqual(rows);

    const tables = await p.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    );
    expect(tables.rows.map((r) => r.t)).toEqual(
      expect.arrayContaining([
        'actor_state',
        'api_keys',
        'dead_letters',
        'device_group_members',
        'device_groups',
        'devices',
        'reminders',
        'schema_migrations',
        'tenants',
        'users',
      ]),
    );
  });

  it('applies files in numeric version order, each with its record', async () => {
    // '10000_' sorts before '9999_' as text: order must be numeric.
    await files({
      '10000_third.sql': "INSERT INTO steps VALUES ('third');",
      '0001_first.sql': 'CREATE TABLE steps (name text, at serial);',
      '9999_second.sql': "INSERT INTO steps VALUES ('second');",
      'README.md': 'not a migration',
    });
    const p = pool();
    const result = await migrate(p, { dir });
    expect(result.applied.map((a) => a.name)).toEqual(['first', 'second', 'third']);
    const { rows } = await p.query('SELECT name FROM steps ORDER BY at');
    expect(rows.map((r) => r.name)).toEqual(['second', 'third']);
    expect((await recorded(p)).map((r) => [r.version, r.name])).toEqual([
      [1, 'first'],
      [9999, 'second'],
      [10000, 'third'],
    ]);
  });

  it('refuses to run when an applied migration was edited, and applies nothing', async () => {
    await files({ '0001_a.sql': 'CREATE TABLE a (x int);' });
    const p = pool();
    await migrate(p, { dir });
    await files({
      '0001_a.sql': 'CREATE TABLE a (x int, y int);',
      '0002_b.sql': 'CREATE TABLE b (x int);',
    });
    const err = await migrate(p, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).kind).toBe('checksum');
    expect((err as MigrationError).message).toContain('0001_a.sql');
    expect(await p.query(`SELECT to_regclass('b') AS t`)).toMatchObject({ rows: [{ t: null }] });
    // Line endings do not count as an edit.
    expect(checksumOf('a;\r\nb;\r\n')).toBe(checksumOf('a;\nb;\n'));
  });

  it('refuses a pending migration older than the newest applied one', async () => {
    await files({ '0001_a.sql': 'SELECT 1;', '0003_c.sql': 'SELECT 1;' });
    const p = pool();
    await migrate(p, { dir });
    await files({ '0002_b.sql': 'CREATE TABLE b (x int);' });
    const err = await migrate(p, { dir }).catch((e: unknown) => e);
    expect((err as MigrationError).kind).toBe('order');
    expect(await p.query(`SELECT to_regclass('b') AS t`)).toMatchObject({ rows: [{ t: null }] });
  });

  it('rolls a failing migration back entirely and names the file and line', async () => {
    await files({
      '0001_ok.sql': 'CREATE TABLE ok (x int);',
      '0002_bad.sql':
        'CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\nSELECT nope FROM half;\n',
    });
    const p = pool();
    const err = await migrate(p, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).kind).toBe('failed');
    expect((err as MigrationError).message).toMatch(/0002_bad\.sql failed at line 3/);
    expect((await recorded(p)).map((r) => r.version)).toEqual([1]);
    expect(await p.query(`SELECT to_regclass('half') AS t`)).toMatchObject({ rows: [{ t: null }] });
    // The pool is still usable afterwards, and fixing the file lets it through.
    await files({ '0002_bad.sql': 'CREATE TABLE half (x int);' });
    expect((await migrate(p, { dir })).applied.map((a) => a.version)).toEqual([2]);
  });

  it('rejects badly named or duplicate migration files', async () => {
    await files({ '1_short.sql': 'SELECT 1;' });
    await expect(loadMigrations(dir)).rejects.toMatchObject({ kind: 'invalid' });
    await rm(join(dir, '1_short.sql'));
    await files({ '0001_a.sql': 'SELECT 1;', '00001_b.sql': 'SELECT 1;' });
    await expect(loadMigrations(dir)).rejects.toThrow(/used twice/);
  });

  it('two nodes migrating at once: each migration is applied exactly once', async () => {
    // A slow first migration makes the two runs overlap for sure.
    await files({
      '0001_slow.sql': 'SELECT pg_sleep(0.3); CREATE TABLE counter (n int);',
      '0002_row.sql': 'INSERT INTO counter VALUES (1);',
    });
    const [a, b] = [pool(), pool()];
    const results = await Promise.all([migrate(a, { dir }), migrate(b, { dir })]);
    const appliedTotal = results.flatMap((r) => r.applied.map((x) => x.version)).sort();
    expect(appliedTotal).toEqual([1, 2]);
    expect(results.map((r) => r.version)).toEqual([2, 2]);
    expect((await a.query('SELECT count(*)::int AS n FROM counter')).rows[0].n).toBe(1);
  });

  it('two nodes migrating the real schema at once both succeed', async () => {
    const [a, b] = [pool(), pool()];
    const results = await Promise.all([migrate(a), migrate(b)]);
    const shipped = (await readdir(DEFAULT_MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql'));
    expect(results.reduce((n, r) => n + r.applied.length, 0)).toBe(shipped.length);
    expect((await recorded(a)).length).toBe(shipped.length);
  });
});
