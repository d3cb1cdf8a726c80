import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../db/embedded.ts';
import { loadMigrations } from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';
import { prepareDatabase } from '../../db/prepare.ts';
import { PostgresStateStore } from '../../db/stores/actor-state.ts';

// PGlite takes seconds to start (initdb): this file starts it twice, on one data folder, and
// runs everything on that. The store suite also runs on PGlite (stores.test.ts).
let dir: string;
let first: EmbeddedPostgres | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gito-pglite-'));
});
afterAll(async () => {
  await first?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('embedded PostgreSQL (PGlite over the wire protocol)', () => {
  it('serves a pg pool of several connections, runs migrations, keeps data across restarts', async () => {
    const dataDir = join(dir, 'pg');
    first = await startEmbeddedPostgres({ dataDir });
    expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    console.log(`PGlite first start (initdb) ${first.startupMs} ms`);

    // A second opener of the same folder is refused while the first runs.
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/in use by process/);

    // Two "nodes" prepare the database at once. Advisory locks do not exclude on PGlite (one
    // shared session); the per-migration re-check inside its transaction keeps this safe.
    const pool = createPool(first.url, { max: 5, onError: () => {} });
    const other = createPool(first.url, { max: 2, onError: () => {} });
    const both = await Promise.all([
      prepareDatabase(pool, { monthsAhead: 2 }),
      prepareDatabase(other, { monthsAhead: 2 }),
    ]);
    await other.end();
    const shipped = await loadMigrations();
    expect(both.flatMap((r) => r.applied.map((a) => a.version)).sort()).toEqual(
      shipped.map((m) => m.version),
    );
    expect(both.flatMap((r) => r.createdPartitions)).toHaveLength(4);

    // Five connections at once, with transactions interleaving: the server serialises them.
    const results = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`INSERT INTO tenants (id, name) VALUES ($1, $1)`, [`tenant-${i}`]);
          await client.query(`INSERT INTO devices (tenant_id, external_id) VALUES ($1, 'd')`, [
            `tenant-${i}`,
          ]);
          await client.query('COMMIT');
          return (await client.query('SELECT count(*)::int AS n FROM tenants')).rows[0].n as number;
        } finally {
          client.release();
        }
      }),
    );
    expect(Math.max(...results)).toBe(5);
    await pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics) SELECT id, now(), '{"t": 21.5}' FROM devices`,
    );
    const states = new PostgresStateStore(pool);
    await states.claim('device/tenant-0:d', 1);
    await states.save('device/tenant-0:d', { online: true }, { epoch: 1, expectedVersion: 0 });
    await pool.end();
    const { port } = first;
    await first.stop();
    first = undefined;

    // Reopen on the same port: faster, same data, nothing to migrate.
    const second = await startEmbeddedPostgres({ dataDir, port });
    try {
      console.log(`PGlite restart on existing data ${second.startupMs} ms`);
      expect(second.port).toBe(port);
      const again = createPool(second.url, { max: 3, onError: () => {} });
      try {
        expect((await prepareDatabase(again)).applied).toEqual([]);
        expect((await again.query('SELECT count(*)::int AS n FROM telemetry')).rows[0].n).toBe(5);
        expect(await new PostgresStateStore(again).claim('device/tenant-0:d', 2)).toEqual({
          state: { online: true },
          epoch: 2,
          version: 1,
        });
      } finally {
        await again.end();
      }
    } finally {
      await second.stop();
    }
  }, 60_000);
});
