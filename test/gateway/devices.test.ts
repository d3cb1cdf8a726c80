import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenantWithAdmin, startTestApi, type TestApi } from './helpers.ts';

let api: TestApi;
let admin: string;
let viewer: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTenantWithAdmin(api, 'acme');
  viewer = await createKey(api, 'acme', 'viewer');
}, 30_000);
afterAll(() => api?.close());

const device = async (key: string, extra: Record<string, unknown> = {}) => {
  const res = await call(api, 'POST', '/api/v1/devices', admin, { key, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; key: string };
};

describe('devices', () => {
  it('register, read, update, tag and delete', async () => {
    const created = await device('pump-17', {
      name: 'Pump 17',
      type: 'pump',
      tags: ['hvac', 'floor-2'],
      attributes: { site: 'Lyon' },
      devEui: '00AA11BB22CC33DD',
    });
    expect(created).toMatchObject({
      key: 'pump-17',
      enabled: true,
      devEui: '00aa11bb22cc33dd',
      status: 'unknown',
      lastSeen: null,
      tags: ['hvac', 'floor-2'],
      attributes: { site: 'Lyon' },
    });
    const dup = await call(api, 'POST', '/api/v1/devices', admin, { key: 'pump-17' });
    expect(dup.status).toBe(409);
    expect(dup.body.errors[0].path).toBe('body.key');
    const eui = await call(api, 'POST', '/api/v1/devices', admin, {
      key: 'pump-18',
      devEui: '00aa11bb22cc33dd',
    });
    expect(eui.status).toBe(409);
    expect(eui.body.errors[0].path).toBe('body.devEui');

    expect((await call(api, 'GET', `/api/v1/devices/${created.id}`, viewer)).body.name).toBe(
      'Pump 17',
    );
    const patched = await call(api, 'PATCH', `/api/v1/devices/${created.id}`, admin, {
      name: null,
      enabled: false,
      attributes: { site: 'Lille' },
    });
    expect(patched.body).toMatchObject({
      name: null,
      enabled: false,
      attributes: { site: 'Lille' },
    });
    const keyChange = await call(api, 'PATCH', `/api/v1/devices/${created.id}`, admin, {
      key: 'x',
    });
    expect(keyChange.body.errors[0]).toEqual({ path: 'body.key', message: 'is not allowed' });

    const tagged = await call(api, 'POST', `/api/v1/devices/${created.id}/tags`, admin, {
      add: ['roof', 'hvac'],
      remove: ['floor-2'],
    });
    expect(tagged.body.tags).toEqual(['hvac', 'roof']);

    expect((await call(api, 'DELETE', `/api/v1/devices/${created.id}`, viewer)).status).toBe(403);
    expect((await call(api, 'DELETE', `/api/v1/devices/${created.id}`, admin)).status).toBe(204);
    expect((await call(api, 'GET', `/api/v1/devices/${created.id}`, admin)).status).toBe(404);
  });

  it('bulk registration creates new keys and reports existing ones', async () => {
    await device('bulk-0');
    const res = await call(api, 'POST', '/api/v1/devices/bulk', admin, {
      devices: [
        { key: 'bulk-0' },
        { key: 'bulk-1', type: 'meter' },
        { key: 'bulk-2', tags: ['b'] },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.created.map((d: { key: string }) => d.key)).toEqual(['bulk-1', 'bulk-2']);
    expect(res.body.existing).toEqual(['bulk-0']);
    const twice = await call(api, 'POST', '/api/v1/devices/bulk', admin, {
      devices: [{ key: 'bulk-9' }, { key: 'bulk-9' }],
    });
    expect(twice.status).toBe(409);
    expect(twice.body.errors[0].path).toBe('body.devices[1].key');
  });

  it('filters by tag, type, status, enabled, key and text; lists tags', async () => {
    await call(api, 'POST', '/api/v1/devices/bulk', admin, {
      devices: [
        { key: 'f-1', type: 'sensor', tags: ['t1', 't2'], name: 'Kitchen' },
        { key: 'f-2', type: 'sensor', tags: ['t1'], enabled: false },
        { key: 'f-3', type: 'valve', tags: ['t2'] },
      ],
    });
    const keys = async (query: string) =>
      (await call(api, 'GET', `/api/v1/devices?${query}`, viewer)).body.items.map(
        (d: { key: string }) => d.key,
      );
    expect(await keys('tag=t1')).toEqual(['f-1', 'f-2']);
    expect(await keys('tag=t1&tag=t2')).toEqual(['f-1']);
    expect(await keys('type=sensor&enabled=false')).toEqual(['f-2']);
    expect(await keys('q=kitch')).toEqual(['f-1']);
    expect(await keys('key=f-3')).toEqual(['f-3']);
    expect(await keys('q=f-&status=unknown')).toEqual(['f-1', 'f-2', 'f-3']);
    const bad = await call(api, 'GET', '/api/v1/devices?status=sleeping', viewer);
    expect(bad.body.errors[0].path).toBe('query.status');
    const tags = await call(api, 'GET', '/api/v1/devices/tags', viewer);
    expect(tags.body.items).toEqual(expect.arrayContaining([{ tag: 't1', devices: 2 }]));
  });
});

describe('groups', () => {
  it('CRUD and membership, all-or-nothing for unknown devices', async () => {
    const a = await device('g-a');
    const b = await device('g-b');
    const group = await call(api, 'POST', '/api/v1/groups', admin, { name: 'Floor 1' });
    expect(group.status).toBe(201);
    const gid = group.body.id;
    expect((await call(api, 'POST', '/api/v1/groups', admin, { name: 'Floor 1' })).status).toBe(
      409,
    );

    const added = await call(api, 'POST', `/api/v1/groups/${gid}/devices`, admin, {
      deviceIds: [a.id, b.id, a.id],
    });
    expect(added.body).toEqual({ added: 2 });
    const unknown = await call(api, 'POST', `/api/v1/groups/${gid}/devices`, admin, {
      deviceIds: [a.id, '999999'],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe('body.deviceIds[1]');

    const members = await call(api, 'GET', `/api/v1/groups/${gid}/devices`, viewer);
    expect(members.body.items.map((d: { key: string }) => d.key)).toEqual(['g-a', 'g-b']);
    expect(
      (await call(api, 'GET', `/api/v1/devices?group=${gid}`, viewer)).body.items,
    ).toHaveLength(2);
    expect((await call(api, 'GET', `/api/v1/groups?device=${a.id}`, viewer)).body.items[0].id).toBe(
      gid,
    );
    expect((await call(api, 'GET', `/api/v1/groups/${gid}`, viewer)).body.deviceCount).toBe(2);

    expect((await call(api, 'DELETE', `/api/v1/groups/${gid}/devices/${a.id}`, admin)).status).toBe(
      204,
    );
    expect((await call(api, 'DELETE', `/api/v1/groups/${gid}/devices/${a.id}`, admin)).status).toBe(
      404,
    );
    expect((await call(api, 'PUT', `/api/v1/groups/${gid}/devices/${a.id}`, admin)).status).toBe(
      204,
    );
    const renamed = await call(api, 'PATCH', `/api/v1/groups/${gid}`, admin, {
      description: 'North',
    });
    expect(renamed.body).toMatchObject({ name: 'Floor 1', description: 'North', deviceCount: 2 });
    expect((await call(api, 'DELETE', `/api/v1/groups/${gid}`, admin)).status).toBe(204);
    expect((await call(api, 'GET', `/api/v1/devices/${a.id}`, viewer)).status).toBe(200);
  });
});

describe('HTTP ingest and live status', () => {
  it('stores a reading from a bound device key and the actor serves the live status', async () => {
    const pump = await device('ingest-1');
    const key = await createKey(api, 'acme', 'device', { deviceId: pump.id });
    const res = await call(api, 'POST', '/api/v1/ingest', key, {
      temperature: 21.5,
      battery: 87,
      pump: { rpm: 1200 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ stored: true, device: 'ingest-1', metrics: 3 });

    const rows = await api.db.pool.query('SELECT metrics FROM telemetry WHERE device_id = $1', [
      pump.id,
    ]);
    expect(rows.rows).toEqual([{ metrics: { temperature: 21.5, battery: 87, pump__rpm: 1200 } }]);

    await api.system.whenIdle();
    const status = await call(api, 'GET', `/api/v1/devices/${pump.id}/status`, viewer);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      deviceId: pump.id,
      key: 'ingest-1',
      live: true,
      online: true,
      battery: 87,
      messages: 1,
      metrics: { temperature: { value: 21.5 }, pump__rpm: { value: 1200 } },
    });

    const fleet = await call(api, 'GET', '/api/v1/devices/status?key=ingest-1', viewer);
    expect(fleet.body.items).toHaveLength(1);
    expect(fleet.body.items[0]).toMatchObject({ key: 'ingest-1', live: true, online: true });
  });

  it('refuses with the same rules as MQTT, naming the reason', async () => {
    await device('ingest-2');
    const fleetKey = await createKey(api, 'acme', 'device');
    const post = (url: string, payload: string, key = fleetKey) =>
      api.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload,
      });
    const before = api.counter.rejected;

    const noDevice = await post('/api/v1/ingest', '{"t": 1}');
    expect(noDevice.statusCode).toBe(400);
    expect(noDevice.json().errors[0].path).toBe('query.device');

    expect((await post('/api/v1/ingest?device=ingest-2', '{"t": 1}')).statusCode).toBe(200);
    expect((await post('/api/v1/ingest?device=nope', '{"t": 1}')).statusCode).toBe(404);

    const malformed = await post('/api/v1/ingest?device=ingest-2', '{"t": ');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.headers['content-type']).toContain('application/problem+json');
    const notObject = await post('/api/v1/ingest?device=ingest-2', '[1, 2]');
    expect(notObject.statusCode).toBe(422);
    expect(notObject.json().type).toBe('urn:gito:problem:ingest-not-an-object');
    const big = await post(
      '/api/v1/ingest?device=ingest-2',
      JSON.stringify({ s: 'x'.repeat(300 * 1024) }),
    );
    expect(big.statusCode).toBe(413);
    expect(api.counter.rejected).toBeGreaterThanOrEqual(before + 3);

    const disabled = await device('ingest-off', { enabled: false });
    const off = await post(`/api/v1/ingest?device=${disabled.key}`, '{"t": 1}');
    expect(off.statusCode).toBe(403);
    expect(off.json().type).toBe('urn:gito:problem:device-disabled');

    const bound = await createKey(api, 'acme', 'device', {
      deviceId: (await device('ingest-3')).id,
    });
    const other = await post('/api/v1/ingest?device=ingest-2', '{"t": 1}', bound);
    expect(other.statusCode).toBe(403);
  });
});

describe('telemetry history', () => {
  it('raw readings newest first, paged, with a metric filter; bucketed aggregates', async () => {
    const meter = await device('meter-1');
    const hour = 3_600_000;
    const base = Math.floor(api.clock.now / hour) * hour - 3 * hour;
    await api.db.pool.query(
      `INSERT INTO telemetry (device_id, ts, metrics)
       SELECT $1, to_timestamp(($2::bigint + i * 60000) / 1000.0),
              jsonb_build_object('temperature', i, 'door', CASE WHEN i % 2 = 0 THEN 'open' ELSE 'shut' END)
         FROM generate_series(0, 119) AS i`,
      [meter.id, base],
    );
    const from = new Date(base).toISOString();
    const to = new Date(base + 2 * hour).toISOString();
    const url = `/api/v1/devices/${meter.id}/telemetry?from=${from}&to=${to}`;
    const first = await call(api, 'GET', `${url}&limit=100&metric=temperature`, viewer);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(100);
    expect(first.body.items[0]).toEqual({
      ts: new Date(base + 119 * 60_000).toISOString(),
      metrics: { temperature: 119 },
    });
    const rest = await call(api, 'GET', `${url}&limit=100&cursor=${first.body.nextCursor}`, viewer);
    expect(rest.body.items).toHaveLength(20);
    expect(rest.body.items[19].metrics).toEqual({ temperature: 0, door: 'open' });
    expect(rest.body.nextCursor).toBeNull();
    // Default range: the last 24 hours.
    expect(
      (await call(api, 'GET', `/api/v1/devices/${meter.id}/telemetry?limit=1`, viewer)).body.items,
    ).toHaveLength(1);
    const backwards = await call(
      api,
      'GET',
      `/api/v1/devices/${meter.id}/telemetry?from=${to}&to=${from}`,
      viewer,
    );
    expect(backwards.body.errors[0].path).toBe('query.from');

    const agg = `/api/v1/devices/${meter.id}/telemetry/aggregate?from=${from}&to=${to}&bucket=1h&metric=temperature&metric=door`;
    const page1 = await call(api, 'GET', `${agg}&limit=1`, viewer);
    expect(page1.status, JSON.stringify(page1.body)).toBe(200);
    expect(page1.body.items).toEqual([
      {
        start: from,
        metrics: { temperature: { min: 0, avg: 29.5, max: 59, count: 60 } },
      },
    ]);
    const page2 = await call(api, 'GET', `${agg}&limit=1&cursor=${page1.body.nextCursor}`, viewer);
    expect(page2.body.items[0].metrics.temperature).toEqual({
      min: 60,
      avg: 89.5,
      max: 119,
      count: 60,
    });
    expect(page2.body.nextCursor).toBeNull();
    const all = await call(api, 'GET', agg, viewer);
    expect(all.body.items).toHaveLength(2);

    const noMetric = await call(
      api,
      'GET',
      `/api/v1/devices/${meter.id}/telemetry/aggregate?bucket=1h`,
      viewer,
    );
    expect(noMetric.body.errors[0].path).toBe('query.metric');
    const badBucket = await call(api, 'GET', `${agg.replace('1h', '1w')}`, viewer);
    expect(badBucket.body.errors[0].path).toBe('query.bucket');
  });
});
