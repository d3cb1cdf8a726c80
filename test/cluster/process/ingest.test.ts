import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, registerDevices } from '../../../db/devices/registry.ts';
import { createPool, prepareDatabase } from '../../../db/index.ts';
import { PrivateMosquitto } from '../../../deploy/mosquitto/private-broker.ts';
import { createTestDatabase } from '../../db/helpers.ts';
import { ProcessCluster } from './harness.ts';

/**
 * Telemetry through real node processes, a real Mosquitto (configured as deploy/mosquitto
 * prescribes) and PostgreSQL: nodes split a shared subscription, and a node killed between
 * receiving and committing loses nothing because the broker redelivers what it never acknowledged.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const TENANT = 'acme';
const DEVICES = Array.from({ length: 40 }, (_, i) => `dev-${i}`);

let db: { url: string; drop(): Promise<void> };
let pool: ReturnType<typeof createPool>;
let broker: PrivateMosquitto;
let cluster: ProcessCluster | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url);
  await prepareDatabase(pool);
  await createTenant(pool, { id: TENANT });
  await registerDevices(
    pool,
    TENANT,
    DEVICES.map((key) => ({ key })),
  );
  broker = await PrivateMosquitto.start();
});
afterAll(async () => {
  await pool.end();
  await broker.stop();
  await db.drop();
});
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Publishes `perDevice` readings for every device, each with its own device time. */
async function publish(perDevice: number, baseTs: number): Promise<number> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `pub-${Math.random()}` });
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < perDevice; i++) {
    for (const device of DEVICES) {
      const payload = JSON.stringify({ ts: baseTs + i, temperature: 20 + (i % 5), battery: 0.9 });
      sends.push(client.publishAsync(`${TENANT}/devices/${device}/telemetry`, payload, { qos: 1 }));
    }
  }
  await Promise.all(sends);
  await client.endAsync();
  return perDevice * DEVICES.length;
}

async function rowsSince(baseTs: number): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM telemetry WHERE ts >= $1',
    [new Date(baseTs)],
  );
  return Number(rows[0]!.n);
}

async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const env = () => ({
  GITO_MQTT_URL: broker.url,
  GITO_DEVICE_RATE_LIMIT: '1000',
  GITO_DEVICE_RATE_BURST: '1000',
});

describe('MQTT ingestion across nodes (real processes, Mosquitto, PostgreSQL)', () => {
  it('splits a shared subscription between two nodes, stores every reading once and updates each device', async () => {
    cluster = new ProcessCluster(REDIS_URL, db.url);
    const [a, b] = await Promise.all([cluster.start('a', env()), cluster.start('b', env())]);
    await cluster.converged(['a', 'b']);
    const baseTs = Date.UTC(2026, 10, 27, 9, 0, 0);
    const sent = await publish(25, baseTs);
    await until(async () => (await rowsSince(baseTs)) === sent);
    const statuses = await Promise.all([a!, b!].map((n) => cluster!.status(n)));
    // The broker gave each node a share of the stream.
    for (const s of statuses) expect(s.ingest.accepted).toBeGreaterThan(0);
    expect(statuses.reduce((sum, s) => sum + (s.ingest.accepted ?? 0), 0)).toBe(sent);
    // Every device actor (wherever it lives) saw all its readings.
    for (const device of DEVICES.slice(0, 10)) {
      const r = await cluster.ask(a!, `device/${TENANT}:${device}`, { type: 'status' });
      expect(r.ok).toBe(true);
      expect(r.value).toMatchObject({ online: true, messages: 25, battery: 90 });
    }
  });

  it('loses nothing when a node is killed between receiving and committing', {
    timeout: 60_000,
  }, async () => {
    cluster = new ProcessCluster(REDIS_URL, db.url);
    // Batches wait 3 s before they are written: the node will die holding received readings.
    const slow = { ...env(), GITO_INGEST_FLUSH_MS: '3000' };
    const a = await cluster.start('a', slow);
    await cluster.converged(['a']);
    const baseTs = Date.UTC(2026, 10, 27, 10, 0, 0);
    const sent = await publish(10, baseTs);
    await until(async () => (await cluster!.status(a)).ingest.accepted === sent);
    expect(await rowsSince(baseTs)).toBe(0);
    cluster.kill('a');
    // The same node comes back (same id, so the same MQTT session): the broker redelivers.
    const again = await cluster.start('a', env());
    await until(async () => (await rowsSince(baseTs)) === sent).catch(async (err) => {
      if (process.env.CLUSTER_TEST_DUMP) {
        (await import('node:fs')).writeFileSync(
          process.env.CLUSTER_TEST_DUMP,
          cluster!.logs.join('\n'),
        );
      }
      throw err;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await rowsSince(baseTs)).toBe(sent);
    expect((await cluster.status(again)).ingest.accepted).toBe(sent);
  });
});
