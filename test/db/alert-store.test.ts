import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertStore, AlertTransitionError } from '../../db/alerts/alert-store.ts';
import { DefinitionRepo } from '../../db/alerts/rule-repo.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

let db: MigratedTestDatabase;
let store: AlertStore;
let ruleId: string;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  await db.pool.query(`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('other', 'Other')`);
  const rules = new DefinitionRepo<{ name: string }>(db.pool, 'rules');
  ruleId = (await rules.create('acme', { name: 'hot' })).id;
  store = new AlertStore(db.pool);
});
afterAll(() => db.drop());

const base = {
  tenantId: 'acme',
  ruleVersion: 1,
  severity: 'major' as const,
  values: { temp: 31 },
  suppressed: null,
  flapping: false,
  repeat: true,
};

async function outboxTypes(alertId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ type: string }>(
    'SELECT type FROM alert_outbox WHERE alert_id = $1 ORDER BY id',
    [alertId],
  );
  return rows.map((r) => r.type);
}

describe('AlertStore', () => {
  it('opens once per (rule, device) and counts repeats instead of duplicating', async () => {
    const first = await store.open({ ...base, ruleId, deviceKey: 'd1', at: 1_000 });
    expect(first.events.map((e) => e.type)).toEqual(['opened']);
    const again = await store.open({
      ...base,
      ruleId,
      deviceKey: 'd1',
      at: 2_000,
      values: { temp: 33 },
    });
    expect(again.alert.id).toBe(first.alert.id);
    expect(again.alert.count).toBe(2);
    expect(again.alert.lastValues).toEqual({ temp: 33 });
    expect(again.events).toEqual([]);
    const other = await store.open({ ...base, ruleId, deviceKey: 'd2', at: 2_000 });
    expect(other.alert.id).not.toBe(first.alert.id);
  });

  it('records severity, suppression and flapping changes as events with outbox rows', async () => {
    const opened = await store.open({ ...base, ruleId, deviceKey: 'd3', at: 1_000 });
    const changed = await store.open({
      ...base,
      ruleId,
      deviceKey: 'd3',
      at: 2_000,
      severity: 'critical',
      suppressed: 'maintenance',
      flapping: true,
      repeat: false,
    });
    expect(changed.events.map((e) => e.type)).toEqual(['severity', 'suppressed', 'flapping']);
    expect(changed.alert.count).toBe(1);
    const back = await store.open({ ...base, ruleId, deviceKey: 'd3', at: 3_000, repeat: false });
    expect(back.events.map((e) => e.type)).toEqual(['severity', 'unsuppressed', 'settled']);
    expect(await outboxTypes(opened.alert.id)).toEqual([
      'opened',
      'severity',
      'suppressed',
      'flapping',
      'severity',
      'unsuppressed',
      'settled',
    ]);
  });

  it('runs the lifecycle active -> acknowledged -> resolved with who and when', async () => {
    const { alert } = await store.open({ ...base, ruleId, deviceKey: 'd4', at: 1_000 });
    const acked = await store.acknowledge('acme', alert.id, 'user:7', 5_000);
    expect(acked.alert).toMatchObject({
      state: 'acknowledged',
      acknowledgedBy: 'user:7',
      acknowledgedAt: 5_000,
    });
    expect((await store.acknowledge('acme', alert.id, 'user:8', 6_000)).events).toEqual([]);
    const resolved = await store.resolve('acme', alert.id, 'user:7', 9_000);
    expect(resolved.alert).toMatchObject({
      state: 'resolved',
      resolvedAt: 9_000,
      resolvedBy: 'user:7',
    });
    await expect(store.acknowledge('acme', alert.id, 'user:7', 10_000)).rejects.toBeInstanceOf(
      AlertTransitionError,
    );
    const events = await store.events(alert.id);
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['opened', 'system'],
      ['acknowledged', 'user:7'],
      ['resolved', 'user:7'],
    ]);
    // A new breach after resolution opens a new alert.
    const reopened = await store.open({ ...base, ruleId, deviceKey: 'd4', at: 11_000 });
    expect(reopened.alert.id).not.toBe(alert.id);
  });

  it('resolves without acknowledge, and hides alerts of other tenants', async () => {
    const { alert } = await store.open({ ...base, ruleId, deviceKey: 'd5', at: 1_000 });
    expect(await store.get('other', alert.id)).toBeUndefined();
    await expect(store.acknowledge('other', alert.id, 'user:1', 2_000)).rejects.toMatchObject({
      code: 'not-found',
    });
    const change = await store.resolveOpen(ruleId, 'd5', 3_000, 'condition cleared');
    expect(change?.alert).toMatchObject({ state: 'resolved', resolveReason: 'condition cleared' });
    expect(await store.resolveOpen(ruleId, 'd5', 4_000, 'again')).toBeUndefined();
  });

  it('keeps one aggregate alert per rule with its device set', async () => {
    const a = await store.open({
      ...base,
      ruleId,
      deviceKey: null,
      at: 1_000,
      devices: ['a', 'b', 'c'],
    });
    const b = await store.open({
      ...base,
      ruleId,
      deviceKey: null,
      at: 2_000,
      devices: ['a', 'b', 'c', 'd'],
      repeat: false,
    });
    expect(b.alert.id).toBe(a.alert.id);
    expect(b.alert.devices).toEqual(['a', 'b', 'c', 'd']);
    expect(b.events.map((e) => e.type)).toEqual(['devices']);
  });

  it('never leaves an alert without its event: a failing outbox write rolls the change back', async () => {
    await db.pool.query('ALTER TABLE alert_outbox ADD CONSTRAINT no_rows CHECK (false) NOT VALID');
    try {
      await expect(store.open({ ...base, ruleId, deviceKey: 'd6', at: 1_000 })).rejects.toThrow();
    } finally {
      await db.pool.query('ALTER TABLE alert_outbox DROP CONSTRAINT no_rows');
    }
    const { rows } = await db.pool.query(`SELECT 1 FROM alerts WHERE device_key = 'd6'`);
    expect(rows).toHaveLength(0);
  });
});
