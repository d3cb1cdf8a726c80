import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deviceActorId } from '../../actors/device/index.ts';
import { DefinitionRepo } from '../../db/alerts/rule-repo.ts';
import { createTenant, registerDevices } from '../../db/devices/registry.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import {
  type AlertingNode,
  alertsOf,
  createRule,
  reading,
  startAlertingNode,
  waitFor,
} from './alerting-harness.ts';

let db: MigratedTestDatabase;
let node: AlertingNode | undefined;
let tenantSeq = 0;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
});
afterEach(async () => {
  await node?.stop();
  node = undefined;
});
afterAll(() => db.drop());

/** A tenant per test, so tests share nothing. */
async function tenant(devices: string[], extra: { tags?: string[]; group?: string } = {}) {
  const id = `t${++tenantSeq}`;
  await createTenant(db.pool, { id });
  await registerDevices(
    db.pool,
    id,
    devices.map((key) => ({ key, tags: extra.tags ?? [] })),
  );
  if (extra.group !== undefined) {
    await db.pool.query(
      `WITH g AS (INSERT INTO device_groups (tenant_id, name) VALUES ($1, $2) RETURNING id)
       INSERT INTO device_group_members (tenant_id, group_id, device_id)
       SELECT $1, g.id, d.id FROM g, devices d WHERE d.tenant_id = $1`,
      [id, extra.group],
    );
  }
  return id;
}

describe('alerting on one node', () => {
  it('opens an alert when a device breaches, counts repeats, resolves when it clears', async () => {
    const t = await tenant(['d1']);
    const ruleId = await createRule(db.pool, t, {
      name: 'hot',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 30 },
      severity: 'major',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 31 });
    const [opened] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 1 && a;
    }, 'alert opened');
    expect(opened).toMatchObject({ device_key: 'd1', state: 'active', severity: 'major' });
    reading(node.system, t, 'd1', { temp: 32 });
    reading(node.system, t, 'd1', { temp: 25 });
    const [resolved] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a[0]?.state === 'resolved' && a;
    }, 'alert resolved');
    expect(resolved).toMatchObject({ id: opened!.id, resolve_reason: 'condition cleared' });
    const { rows } = await db.pool.query<{ type: string }>(
      'SELECT type FROM alert_outbox WHERE alert_id = $1 ORDER BY id',
      [opened!.id],
    );
    expect(rows.map((r) => r.type)).toEqual(['opened', 'resolved']);
  });

  it('evaluates an OR across two metrics', async () => {
    const t = await tenant(['d1', 'd2']);
    const ruleId = await createRule(db.pool, t, {
      name: 'either',
      scope: { type: 'tenant' },
      condition: {
        any: [
          { metric: 'temp', op: '>', value: 30 },
          { metric: 'humidity', op: '>=', value: 90 },
        ],
      },
      severity: 'warning',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 20, humidity: 95 });
    reading(node.system, t, 'd2', { temp: 35, humidity: 10 });
    const alerts = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 2 && a;
    }, 'two alerts');
    expect(alerts.map((a) => a.device_key).sort()).toEqual(['d1', 'd2']);
  });

  it('applies a rule created while devices are live, and resolves alerts of a deleted rule', async () => {
    const t = await tenant(['d1']);
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 50 });
    await node.system.whenIdle();
    const ruleId = await createRule(db.pool, t, {
      name: 'late',
      scope: { type: 'device', device: 'd1' },
      condition: { metric: 'temp', op: '>', value: 30 },
      severity: 'minor',
    });
    await node.alerting.catalog.refresh();
    reading(node.system, t, 'd1', { temp: 51 });
    await waitFor(async () => (await alertsOf(db.pool, ruleId)).length === 1, 'alert of new rule');
    await new DefinitionRepo(db.pool, 'rules').remove(t, ruleId);
    await node.alerting.catalog.refresh();
    const [alert] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a[0]?.state === 'resolved' && a;
    }, 'resolved by deletion');
    expect(alert?.resolve_reason).toBe('rule deleted or disabled');
  });

  it('waits for `for` and `count`, and keeps a pending `for` across a restart', async () => {
    const t = await tenant(['d1']);
    const ruleId = await createRule(db.pool, t, {
      name: 'sustained',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 30 },
      for: '1500ms',
      count: 2,
      severity: 'critical',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 31 });
    reading(node.system, t, 'd1', { temp: 32 }, Date.now() + 1);
    await node.system.whenIdle();
    // Pending now; the node goes down before `for` ends.
    await node.stop();
    expect(await alertsOf(db.pool, ruleId)).toEqual([]);
    // A new node: nothing tells the device anything; its durable reminder brings it back.
    node = await startAlertingNode(db.pool, 'n2');
    const [alert] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 1 && a;
    }, 'alert after restart');
    expect(alert).toMatchObject({ device_key: 'd1', severity: 'critical', state: 'active' });
  });

  it('records alerts during a maintenance window as suppressed', async () => {
    const t = await tenant(['d1']);
    await new DefinitionRepo<{ name: string; [k: string]: unknown }>(
      db.pool,
      'maintenance_windows',
    ).create(t, {
      name: 'now',
      scope: { type: 'tenant' },
      start: new Date(Date.now() - 60_000).toISOString(),
      duration: '1h',
    });
    const ruleId = await createRule(db.pool, t, {
      name: 'hot',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 30 },
      severity: 'major',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 40 });
    const [alert] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 1 && a;
    }, 'suppressed alert');
    expect(alert?.suppressed).toBe('maintenance');
  });

  it('fires an aggregate when 3 devices of a group breach and updates its device set', async () => {
    const t = await tenant(['a', 'b', 'c', 'd'], { group: 'cold-room' });
    const ruleId = await createRule(db.pool, t, {
      name: 'cold room warm',
      scope: { type: 'group', group: 'cold-room' },
      condition: { metric: 'temp', op: '>', value: 8 },
      aggregate: { minDevices: 3, window: '10m' },
      severity: 'critical',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'a', { temp: 9 });
    reading(node.system, t, 'b', { temp: 9 });
    await node.system.whenIdle();
    await new Promise((r) => setTimeout(r, 100));
    expect(await alertsOf(db.pool, ruleId)).toEqual([]);
    reading(node.system, t, 'c', { temp: 9 });
    const [alert] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 1 && a;
    }, 'aggregate alert');
    expect(alert).toMatchObject({ device_key: null, devices: ['a', 'b', 'c'] });
    reading(node.system, t, 'd', { temp: 9 });
    await waitFor(
      async () => (await alertsOf(db.pool, ruleId))[0]?.devices?.length === 4,
      'four devices',
    );
  });
  it("re-resolves a device's rules when its groups change (profileChanged)", async () => {
    const t = await tenant(['d1']);
    const ruleId = await createRule(db.pool, t, {
      name: 'cold room',
      scope: { type: 'group', group: 'cold' },
      condition: { metric: 'temp', op: '>', value: 8 },
      severity: 'major',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 12 });
    await node.system.whenIdle();
    await new Promise((r) => setTimeout(r, 100));
    expect(await alertsOf(db.pool, ruleId)).toEqual([]);
    await db.pool.query(
      `WITH g AS (INSERT INTO device_groups (tenant_id, name) VALUES ($1, 'cold') RETURNING id)
       INSERT INTO device_group_members (tenant_id, group_id, device_id)
       SELECT $1, g.id, d.id FROM g, devices d WHERE d.tenant_id = $1`,
      [t],
    );
    await node.system.ask(deviceActorId(t, 'd1'), { type: 'profileChanged' });
    reading(node.system, t, 'd1', { temp: 13 });
    await waitFor(
      async () => (await alertsOf(db.pool, ruleId)).length === 1,
      'alert once in group',
    );
  });
});
