import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertStore } from '../../db/alerts/alert-store.ts';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { call, createKey, createTenantWithAdmin, startTestApi, type TestApi } from './helpers.ts';

let api: TestApi;
let admin: string;
let viewer: string;

const rule = {
  name: 'hot pumps',
  scope: { type: 'tags', all: ['pump'] },
  condition: {
    any: [
      { metric: 'temp', op: '>', value: 80 },
      { metric: 'pressure', op: '>=', value: 9 },
    ],
  },
  for: '5m',
  severity: 'major',
};

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTenantWithAdmin(api, 'acme');
  viewer = await createKey(api, 'acme', 'viewer');
});
afterAll(() => api?.close());

describe('rules API', () => {
  it('creates, reads, replaces, disables and deletes a rule, bumping its version', async () => {
    const created = await call(api, 'POST', '/api/v1/rules', admin, rule);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'hot pumps', enabled: true, version: 1 });
    const id = created.body.id as string;
    expect((await call(api, 'GET', `/api/v1/rules/${id}`, viewer)).body.definition).toMatchObject(
      rule,
    );
    const replaced = await call(api, 'PUT', `/api/v1/rules/${id}`, admin, {
      ...rule,
      severity: 'critical',
    });
    expect(replaced.body).toMatchObject({ version: 2, definition: { severity: 'critical' } });
    const disabled = await call(api, 'PATCH', `/api/v1/rules/${id}`, admin, { enabled: false });
    expect(disabled.body).toMatchObject({ enabled: false, version: 3 });
    const list = await call(api, 'GET', '/api/v1/rules', viewer);
    expect(list.body.items.map((r: { id: string }) => r.id)).toContain(id);
    expect((await call(api, 'DELETE', `/api/v1/rules/${id}`, admin)).status).toBe(204);
    expect((await call(api, 'GET', `/api/v1/rules/${id}`, viewer)).status).toBe(404);
  });

  it('refuses an invalid rule with 422 naming each offending field, and saves nothing', async () => {
    const bad = {
      ...rule,
      name: 'bad',
      condition: {
        all: [
          { metric: 'temp', op: '>', value: 1 },
          { metric: 'x', op: '<', value: 2 },
          { metric: 'temp', op: '>', value: 'hot' },
        ],
      },
      for: '5 minutes',
    };
    const res = await call(api, 'POST', '/api/v1/rules', admin, bad);
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const paths = (res.body.errors as Array<{ path: string }>).map((e) => e.path);
    expect(paths).toContain('body.condition.all[2].value');
    expect(paths).toContain('body.for');
    const list = await call(api, 'GET', '/api/v1/rules', viewer);
    expect(list.body.items.map((r: { name: string }) => r.name)).not.toContain('bad');
    const check = await call(api, 'POST', '/api/v1/rules/validate', viewer, bad);
    expect(check.body.valid).toBe(false);
  });

  it('is refused to viewers for changes', async () => {
    expect((await call(api, 'POST', '/api/v1/rules', viewer, rule)).status).toBe(403);
  });

  it('previews a draft rule against recorded telemetry', async () => {
    await ensureTelemetryPartitions(api.db.pool);
    const device = await call(api, 'POST', '/api/v1/devices', admin, {
      key: 'pump-1',
      tags: ['pump'],
    });
    const t0 = Date.now() - 60 * 60_000;
    const rows = [20, 85, 90, 20].map(
      (temp, i) =>
        `(${device.body.id}, to_timestamp(${(t0 + i * 60_000) / 1000}), '{"temp": ${temp}}')`,
    );
    await api.db.pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics) VALUES ${rows.join(',')}`,
    );
    const res = await call(api, 'POST', '/api/v1/rules/preview', viewer, {
      rule: { ...rule, for: '1m' },
      from: new Date(t0).toISOString(),
      to: new Date(t0 + 10 * 60_000).toISOString(),
    });
    expect(res.status).toBe(200);
    expect(res.body.alerts).toEqual([
      expect.objectContaining({
        deviceKey: 'pump-1',
        openedAt: new Date(t0 + 2 * 60_000).toISOString(),
        resolvedAt: new Date(t0 + 3 * 60_000).toISOString(),
      }),
    ]);
    const streamed = await api.app.inject({
      method: 'POST',
      url: '/api/v1/rules/preview',
      headers: { authorization: `Bearer ${viewer}`, accept: 'application/x-ndjson' },
      payload: { rule, from: new Date(t0).toISOString(), to: new Date(t0 + 600_000).toISOString() },
    });
    const lines = streamed.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toHaveProperty('progress');
    expect(lines.at(-1)).toHaveProperty('result');
  });
});

describe('alerts API', () => {
  it('lists, filters, acknowledges and resolves alerts, recording who did what', async () => {
    const ruleId = (
      await call(api, 'POST', '/api/v1/rules', admin, { ...rule, name: 'for alerts' })
    ).body.id;
    const store = new AlertStore(api.db.pool);
    const open = (device: string, severity: 'major' | 'critical') =>
      store.open({
        tenantId: 'acme',
        ruleId,
        ruleVersion: 1,
        deviceKey: device,
        severity,
        at: Date.now(),
        values: { temp: 90 },
        suppressed: null,
        flapping: false,
        repeat: true,
      });
    const a1 = (await open('pump-a', 'major')).alert.id;
    const a2 = (await open('pump-b', 'critical')).alert.id;
    const critical = await call(api, 'GET', '/api/v1/alerts?severity=critical', viewer);
    expect(critical.body.items.map((a: { id: string }) => a.id)).toEqual([a2]);
    const acked = await call(api, 'POST', `/api/v1/alerts/${a1}/acknowledge`, admin);
    expect(acked.body).toMatchObject({
      state: 'acknowledged',
      acknowledgedBy: expect.stringMatching(/^api_key:/),
    });
    const resolved = await call(api, 'POST', `/api/v1/alerts/${a1}/resolve`, admin, {
      reason: 'pump replaced',
    });
    expect(resolved.body).toMatchObject({ state: 'resolved', resolveReason: 'pump replaced' });
    expect((await call(api, 'POST', `/api/v1/alerts/${a1}/acknowledge`, admin)).status).toBe(409);
    const detail = await call(api, 'GET', `/api/v1/alerts/${a1}`, viewer);
    expect(detail.body.events.map((e: { type: string }) => e.type)).toEqual([
      'opened',
      'acknowledged',
      'resolved',
    ]);
    const bulk = await call(api, 'POST', '/api/v1/alerts/bulk', admin, {
      ids: [a1, a2],
      action: 'resolve',
    });
    expect(bulk.body.results).toEqual([
      { id: a1, ok: false, error: expect.stringContaining('already resolved') },
      { id: a2, ok: true },
    ]);
    const open2 = await call(api, 'GET', '/api/v1/alerts?state=active,acknowledged', viewer);
    expect(open2.body.items).toEqual([]);
  });
});

describe('maintenance windows API', () => {
  it('validates the recurrence and keeps windows per tenant', async () => {
    const bad = await call(api, 'POST', '/api/v1/maintenance-windows', admin, {
      name: 'weekly',
      scope: { type: 'tenant' },
      start: '2026-11-01T02:00:00+01:00',
      duration: '2h',
      rrule: 'FREQ=SOMETIMES',
      timezone: 'Europe/Berlin',
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('body.rrule');
    const ok = await call(api, 'POST', '/api/v1/maintenance-windows', admin, {
      name: 'weekly',
      scope: { type: 'group', group: 'cold-room' },
      start: '2026-11-01T02:00:00+01:00',
      duration: '2h',
      rrule: 'FREQ=WEEKLY;BYDAY=SU',
      timezone: 'Europe/Berlin',
    });
    expect(ok.status).toBe(201);
    expect((await call(api, 'GET', '/api/v1/maintenance-windows', viewer)).body.items).toHaveLength(
      1,
    );
  });
});
