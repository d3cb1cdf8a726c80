import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

async function tenant(devices: Array<{ key: string; attributes?: Record<string, unknown> }>) {
  const id = `s${++tenantSeq}`;
  await createTenant(db.pool, { id });
  await registerDevices(db.pool, id, devices);
  return id;
}

async function eventTypes(alertId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ type: string }>(
    'SELECT type FROM alert_outbox WHERE alert_id = $1 ORDER BY id',
    [alertId],
  );
  return rows.map((r) => r.type);
}

const hot = { metric: 'temp', op: '>', value: 30 } as const;

describe('suppression', () => {
  it('records alerts during maintenance as suppressed and notifies once when the window ends', async () => {
    const t = await tenant([{ key: 'd1' }]);
    // A window that ends a moment from now.
    await new DefinitionRepo<{ name: string; [k: string]: unknown }>(
      db.pool,
      'maintenance_windows',
    ).create(t, {
      name: 'ending',
      scope: { type: 'tenant' },
      start: new Date(Date.now() - 60_000 + 1_500).toISOString(),
      duration: '1m',
    });
    const ruleId = await createRule(db.pool, t, {
      name: 'hot',
      scope: { type: 'tenant' },
      condition: hot,
      severity: 'major',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 40 });
    const [alert] = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.length === 1 && a;
    }, 'suppressed alert');
    expect(alert?.suppressed).toBe('maintenance');
    // The window ends with the condition still active: one 'unsuppressed' event (the
    // escalation's cue to notify), and the alert is the same one.
    await waitFor(
      async () => (await alertsOf(db.pool, ruleId))[0]?.suppressed === null,
      'unsuppressed',
    );
    expect(await eventTypes(alert!.id)).toEqual(['opened', 'unsuppressed']);
    expect(await alertsOf(db.pool, ruleId)).toHaveLength(1);
  });

  it('inhibits the alerts of devices behind an offline gateway, and releases them when it recovers', async () => {
    const t = await tenant([{ key: 'gw1' }, { key: 's1', attributes: { gateway: 'gw1' } }]);
    const sensorRule = await createRule(db.pool, t, {
      name: 'sensor offline',
      scope: { type: 'device', device: 's1' },
      condition: { metric: 'link', op: '==', value: false },
      severity: 'minor',
    });
    const gatewayRule = await createRule(db.pool, t, {
      name: 'gateway offline',
      scope: { type: 'device', device: 'gw1' },
      condition: { metric: 'link', op: '==', value: false },
      severity: 'critical',
      inhibits: { rules: [sensorRule], match: 'behind' },
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'gw1', { link: false });
    await waitFor(async () => (await alertsOf(db.pool, gatewayRule)).length === 1, 'gateway alert');
    reading(node.system, t, 's1', { link: false });
    const [sensor] = await waitFor(async () => {
      const a = await alertsOf(db.pool, sensorRule);
      return a.length === 1 && a;
    }, 'sensor alert');
    expect(sensor?.suppressed).toBe('inhibited');
    reading(node.system, t, 'gw1', { link: true });
    await waitFor(
      async () => (await alertsOf(db.pool, sensorRule))[0]?.suppressed === null,
      'released',
    );
    expect(await eventTypes(sensor!.id)).toEqual(['opened', 'unsuppressed']);
  });

  it('marks an alert that opens and clears too often as flapping and holds it open', async () => {
    const t = await tenant([{ key: 'd1' }]);
    const ruleId = await createRule(db.pool, t, {
      name: 'flappy',
      scope: { type: 'tenant' },
      condition: hot,
      severity: 'warning',
      flapping: { maxTransitions: 3, window: '1h' },
    });
    node = await startAlertingNode(db.pool);
    let at = Date.now();
    for (const temp of [40, 20, 40]) {
      reading(node.system, t, 'd1', { temp }, at++);
      await waitFor(async () => {
        const a = await alertsOf(db.pool, ruleId);
        return a.length > 0 && a.at(-1)?.state === (temp > 30 ? 'active' : 'resolved');
      }, `state after ${temp}`);
    }
    const [, second] = await alertsOf(db.pool, ruleId);
    expect(second?.suppressed).toBeNull();
    // The fourth transition within the hour is one too many: the clear does not resolve the
    // alert; it is held open, flapping, its notifications suppressed until it settles.
    reading(node.system, t, 'd1', { temp: 20 }, at++);
    const flapping = await waitFor(async () => {
      const a = await alertsOf(db.pool, ruleId);
      return a.at(-1)?.suppressed === 'flapping' && a;
    }, 'flapping');
    expect(flapping).toHaveLength(2);
    expect(flapping[1]).toMatchObject({ id: second!.id, state: 'active' });
    expect(await eventTypes(second!.id)).toEqual(['opened', 'suppressed', 'flapping']);
  });

  it('opens nothing outside the rule schedule', async () => {
    const t = await tenant([{ key: 'd1' }]);
    // Active one minute a week, at a time that is not now.
    const now = new Date();
    const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][
      (now.getUTCDay() + 3) % 7
    ] as 'mon';
    const ruleId = await createRule(db.pool, t, {
      name: 'office hours',
      scope: { type: 'tenant' },
      condition: hot,
      severity: 'major',
      schedule: { timezone: 'UTC', periods: [{ days: [day], from: '03:00', to: '03:01' }] },
    });
    const always = await createRule(db.pool, t, {
      name: 'always',
      scope: { type: 'tenant' },
      condition: hot,
      severity: 'major',
    });
    node = await startAlertingNode(db.pool);
    reading(node.system, t, 'd1', { temp: 40 });
    await waitFor(
      async () => (await alertsOf(db.pool, always)).length === 1,
      'unscheduled rule alert',
    );
    await node.system.whenIdle();
    expect(await alertsOf(db.pool, ruleId)).toEqual([]);
  });
});
