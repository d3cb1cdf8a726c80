import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DefinitionRepo } from '../../../db/alerts/rule-repo.ts';
import { createTenant, registerDevices } from '../../../db/devices/registry.ts';
import { createPool, prepareDatabase } from '../../../db/index.ts';
import { createTestDatabase } from '../../db/helpers.ts';
import { type NodeProcess, ProcessCluster } from './harness.ts';

/**
 * Alert rules across real node processes: devices and rule actors spread over the cluster, an
 * aggregate counting devices owned by different nodes, and a `for` that is pending when its
 * device's node is killed.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const TENANT = 'acme';
const DEVICES = Array.from({ length: 12 }, (_, i) => `cold-${i}`);

let db: { url: string; drop(): Promise<void> };
let pool: ReturnType<typeof createPool>;
let cluster: ProcessCluster | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url);
  await prepareDatabase(pool);
  await createTenant(pool, { id: TENANT });
  await registerDevices(
    pool,
    TENANT,
    DEVICES.map((key) => ({ key, tags: ['cold-room'] })),
  );
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

interface Row {
  id: string;
  device_key: string | null;
  state: string;
  devices: string[] | null;
  opened_ms: string;
}

async function alerts(ruleId: string): Promise<Row[]> {
  const { rows } = await pool.query<Row>(
    `SELECT id::text, device_key, state, devices,
       (extract(epoch FROM opened_at) * 1000)::bigint::text AS opened_ms
     FROM alerts WHERE rule_id = $1 ORDER BY id`,
    [ruleId],
  );
  return rows;
}

async function until<T>(
  probe: () => Promise<T | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function send(via: NodeProcess, device: string, temp: number, at = Date.now()) {
  const result = await cluster!.ask(via, `device/${TENANT}:${device}`, {
    type: 'telemetry',
    ts: at,
    metrics: { temp },
    receivedAt: at,
  });
  expect(result.ok, JSON.stringify(result)).toBe(true);
}

async function rule(definition: Record<string, unknown> & { name: string }): Promise<string> {
  return (await new DefinitionRepo(pool, 'rules').create(TENANT, definition)).id;
}

describe('alerting in a cluster of processes', () => {
  it('fires and clears a 3-of-group aggregate as devices owned by different nodes come and go', async () => {
    const ruleId = await rule({
      name: 'cold room warm',
      scope: { type: 'tags', all: ['cold-room'] },
      condition: { metric: 'temp', op: '>', value: 8 },
      aggregate: { minDevices: 3, window: '1s' },
      severity: 'critical',
    });
    cluster = new ProcessCluster(REDIS_URL, db.url);
    const n1 = await cluster.start('n1');
    const n2 = await cluster.start('n2');
    await cluster.converged(['n1', 'n2']);
    // Two devices on each node.
    const owners = await Promise.all(
      DEVICES.map((d) => cluster!.owner(n1, `device/${TENANT}:${d}`)),
    );
    const on1 = DEVICES.filter((_, i) => owners[i] === 'n1');
    const on2 = DEVICES.filter((_, i) => owners[i] === 'n2');
    expect(on1.length).toBeGreaterThanOrEqual(2);
    expect(on2.length).toBeGreaterThanOrEqual(2);
    const [a, b, c, d] = [on1[0]!, on2[0]!, on1[1]!, on2[1]!];

    await send(n1, a, 9);
    await send(n2, b, 9);
    await new Promise((r) => setTimeout(r, 300));
    expect(await alerts(ruleId)).toEqual([]);
    await send(n2, c, 9);
    const [opened] = await until(async () => {
      const rows = await alerts(ruleId);
      return rows.length === 1 && rows;
    }, 'aggregate opened');
    expect(opened!.devices).toEqual([a, b, c].sort());
    await send(n1, d, 9);
    await until(
      async () => (await alerts(ruleId))[0]?.devices?.length === 4,
      'fourth device counted',
    );
    // Two cool down: after the window only two still breach, below the threshold.
    await send(n1, a, 5);
    await send(n1, b, 5);
    const [resolved] = await until(async () => {
      const rows = await alerts(ruleId);
      return rows[0]?.state === 'resolved' && rows;
    }, 'aggregate resolved');
    expect(resolved!.id).toBe(opened!.id);
  });

  it('opens a `for` alert on time on the new owner after the device node is killed', async () => {
    const forMs = 6_000;
    const device = DEVICES[5]!;
    const ruleId = await rule({
      name: 'sustained heat',
      scope: { type: 'device', device },
      condition: { metric: 'temp', op: '>', value: 30 },
      for: `${forMs}ms`,
      severity: 'major',
    });
    cluster = new ProcessCluster(REDIS_URL, db.url);
    const n1 = await cluster.start('n1');
    const n2 = await cluster.start('n2');
    await cluster.converged(['n1', 'n2']);
    const owner = await cluster.owner(n1, `device/${TENANT}:${device}`);
    const survivor = owner === 'n1' ? n2 : n1;
    const startedAt = Date.now();
    await send(survivor, device, 35, startedAt);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await alerts(ruleId)).toEqual([]);
    cluster.kill(owner);
    await cluster.converged([survivor.id]);
    const [alert] = await until(async () => {
      const rows = await alerts(ruleId);
      return rows.length === 1 && rows;
    }, 'alert on the new owner');
    const openedAt = Number(alert!.opened_ms);
    // Not before `for` has elapsed; at its planned time, give or take the reminder poll.
    expect(openedAt).toBeGreaterThanOrEqual(startedAt + forMs);
    expect(openedAt - (startedAt + forMs)).toBeLessThan(2_500);
  });
});
