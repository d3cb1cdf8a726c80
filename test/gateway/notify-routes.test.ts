import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertStore } from '../../db/alerts/alert-store.ts';
import { getContactPointsWithSecrets } from '../../db/notify/contact-points.ts';
import { insertDeliveries } from '../../db/notify/deliveries.ts';
import {
  call,
  createKey,
  createTenantWithAdmin,
  createUser,
  startTestApi,
  TEST_SECRET_BOX,
  type TestApi,
} from './helpers.ts';

let api: TestApi;
let admin: string;
let operator: string;
let viewer: string;
let otherAdmin: string;
let userId: string;
let teamId: string;

const ROUTING_KEY = 'pd-routing-key-SECRET-0001';
const WEBHOOK_SECRET = 'whsec-SECRET-abcdefghijkl';
const WEBHOOK_URL = 'https://hooks.example.com/SECRET-path/abc';
const SECRETS = [ROUTING_KEY, WEBHOOK_SECRET, 'SECRET-path'];

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** Every request of this file: JSON out, and no secret may appear in any answer. */
async function req(method: Method, url: string, key: string, body?: unknown) {
  const res = await call(api, method, `/api/v1${url}`, key, body);
  const text = JSON.stringify(res.body ?? null);
  for (const secret of SECRETS) expect(text, `${method} ${url}`).not.toContain(secret);
  return res;
}

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTenantWithAdmin(api, 'acme');
  operator = await createKey(api, 'acme', 'operator');
  viewer = await createKey(api, 'acme', 'viewer');
  otherAdmin = await createTenantWithAdmin(api, 'other');
  userId = await createUser(api, 'acme', 'ana@acme.example', 'operator');
  teamId = (await req('POST', '/teams', admin, { name: 'On call' })).body.id;
}, 60_000);
afterAll(() => api?.close());

describe('contact points', () => {
  it('creates, reads, lists, changes and deletes one; the secret is sealed and never returned', async () => {
    const created = await req('POST', '/contact-points', operator, {
      kind: 'pagerduty',
      name: 'Ana pager',
      userId,
      target: { routingKey: ROUTING_KEY },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      kind: 'pagerduty',
      userId,
      hasSecret: true,
      secretFields: ['routingKey'],
      config: {},
      enabled: true,
    });
    const id = created.body.id as string;
    const [stored] = await getContactPointsWithSecrets(api.db.pool, TEST_SECRET_BOX, 'acme', [id]);
    expect(stored?.secret).toEqual({ routingKey: ROUTING_KEY });
    const raw = await api.db.pool.query<{ secret: string }>(
      'SELECT secret FROM contact_points WHERE id = $1',
      [id],
    );
    expect(raw.rows[0]?.secret).not.toContain(ROUTING_KEY);

    expect((await req('GET', `/contact-points/${id}`, viewer)).body.name).toBe('Ana pager');
    const mine = await req('GET', `/contact-points?user=${userId}`, viewer);
    expect(mine.body.items.map((p: { id: string }) => p.id)).toEqual([id]);

    // A rename keeps the stored secret.
    const renamed = await req('PATCH', `/contact-points/${id}`, operator, {
      name: 'Ana phone',
      enabled: false,
    });
    expect(renamed.body).toMatchObject({ name: 'Ana phone', enabled: false, hasSecret: true });
    const [kept] = await getContactPointsWithSecrets(api.db.pool, TEST_SECRET_BOX, 'acme', [id]);
    expect(kept?.secret).toEqual({ routingKey: ROUTING_KEY });

    expect((await req('DELETE', `/contact-points/${id}`, operator)).status).toBe(204);
    expect((await req('GET', `/contact-points/${id}`, viewer)).status).toBe(404);
  });

  it('splits a webhook target: the origin is shown, url and secret stay sealed', async () => {
    const res = await req('POST', '/contact-points', operator, {
      kind: 'webhook',
      target: { url: WEBHOOK_URL, secret: WEBHOOK_SECRET },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      userId: null,
      address: 'https://hooks.example.com',
      hasSecret: true,
    });
    const list = await req('GET', '/contact-points?kind=webhook', viewer);
    expect(list.body.items).toHaveLength(1);
  });

  it('refuses a bad target with 422 naming the field, and an unknown user', async () => {
    const bad = await req('POST', '/contact-points', operator, {
      kind: 'webhook',
      target: { url: WEBHOOK_URL, secret: 'short' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('body.target.secret');
    const email = await req('POST', '/contact-points', operator, {
      kind: 'email',
      target: { to: 'not an address' },
    });
    expect(email.body.errors[0].path).toBe('body.target.to');
    const kind = await req('POST', '/contact-points', operator, { kind: 'fax', target: {} });
    expect(kind.status).toBe(400);
    const user = await req('POST', '/contact-points', operator, {
      kind: 'email',
      userId: '999999',
      target: { to: 'ana@acme.example' },
    });
    expect(user.status).toBe(422);
    expect(user.body.errors[0].path).toBe('body.userId');
  });

  it('is read-only for viewers and invisible to other tenants', async () => {
    expect(
      (
        await req('POST', '/contact-points', viewer, {
          kind: 'email',
          target: { to: 'x@acme.example' },
        })
      ).status,
    ).toBe(403);
    const id = (
      await req('POST', '/contact-points', operator, {
        kind: 'email',
        target: { to: 'ops@acme.example' },
      })
    ).body.id;
    expect((await req('GET', `/contact-points/${id}`, otherAdmin)).status).toBe(404);
    expect((await req('DELETE', `/contact-points/${id}`, otherAdmin)).status).toBe(404);
    expect((await req('GET', '/contact-points', otherAdmin)).body.items).toEqual([]);
  });

  it('answers 503 when the process has no sealer', async () => {
    const bare = await startTestApi({ notify: undefined }, api.db);
    try {
      const res = await call(bare, 'POST', '/api/v1/contact-points', admin, {
        kind: 'email',
        target: { to: 'ops@acme.example' },
      });
      expect(res.status).toBe(503);
    } finally {
      await bare.close();
    }
  });
});

describe('preferences', () => {
  it('reads defaults, replaces them, and refuses a bad time zone naming it', async () => {
    const initial = await req('GET', `/users/${userId}/preferences`, viewer);
    expect(initial.body).toMatchObject({ timeZone: 'UTC', quietHours: null, digest: false });
    const put = await req('PUT', `/users/${userId}/preferences`, operator, {
      channelsBySeverity: { critical: ['sms', 'email'] },
      quietHours: { start: '22:00', end: '07:00' },
      timeZone: 'Europe/Berlin',
      digest: true,
    });
    expect(put.status).toBe(200);
    const read = await req('GET', `/users/${userId}/preferences`, viewer);
    expect(read.body).toMatchObject({
      channelsBySeverity: { critical: ['sms', 'email'] },
      quietHours: { start: '22:00', end: '07:00' },
      timeZone: 'Europe/Berlin',
      digest: true,
      digestIntervalMinutes: 60,
    });
    const bad = await req('PUT', `/users/${userId}/preferences`, operator, {
      timeZone: 'Mars/Olympus',
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('body.timeZone');
    const quiet = await req('PUT', `/users/${userId}/preferences`, operator, {
      quietHours: { start: '25:00', end: '07:00' },
    });
    expect(quiet.status).toBe(400);
    expect(quiet.body.errors[0].path).toBe('body.quietHours.start');
  });

  it('is refused to viewers and 404 for unknown or foreign users', async () => {
    expect((await req('PUT', `/users/${userId}/preferences`, viewer, {})).status).toBe(403);
    expect((await req('GET', `/users/${userId}/preferences`, otherAdmin)).status).toBe(404);
    expect((await req('PUT', `/users/${userId}/preferences`, otherAdmin, {})).status).toBe(404);
  });
});

describe('escalation policies', () => {
  const levels = () => [
    { delay: '0s', targets: [{ type: 'user', id: userId, channels: ['email'] }] },
    { delay: '15m', repeat: 2, interval: '10m', targets: [{ type: 'team', id: teamId }] },
  ];

  it('creates, reads, lists, replaces (version up) and deletes a policy', async () => {
    const created = await req('POST', '/escalation-policies', admin, {
      name: 'Primary',
      levels: levels(),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Primary', version: 1, description: null });
    const id = created.body.id as string;
    expect((await req('GET', `/escalation-policies/${id}`, viewer)).body.levels).toEqual(levels());
    const list = await req('GET', '/escalation-policies', viewer);
    expect(list.body.items.map((p: { id: string }) => p.id)).toContain(id);
    const replaced = await req('PUT', `/escalation-policies/${id}`, admin, {
      name: 'Primary',
      description: 'business hours',
      levels: levels().slice(0, 1),
    });
    expect(replaced.body).toMatchObject({ version: 2, description: 'business hours' });
    const dup = await req('POST', '/escalation-policies', admin, {
      name: 'primary',
      levels: levels(),
    });
    expect(dup.status).toBe(409);
    expect((await req('DELETE', `/escalation-policies/${id}`, admin)).status).toBe(204);
    expect((await req('GET', `/escalation-policies/${id}`, viewer)).status).toBe(404);
  });

  it('refuses bad levels with 422 and paths like body.levels[1].targets[0].id', async () => {
    const res = await req('POST', '/escalation-policies', admin, {
      name: 'Broken',
      levels: [
        { delay: '0s', targets: [{ type: 'user', id: userId }] },
        { delay: 'soon', targets: [{ type: 'user', id: 'ana' }] },
      ],
    });
    expect(res.status).toBe(422);
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toContain('body.levels[1].targets[0].id');
    expect(paths).toContain('body.levels[1].delay');
    const foreign = await req('POST', '/escalation-policies', admin, {
      name: 'Foreign',
      levels: [{ delay: '0s', targets: [{ type: 'team', id: '999999' }] }],
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors[0].path).toBe('body.levels[0].targets[0].id');
  });

  it('sets and removes the default policy per severity (admins only)', async () => {
    const id = (
      await req('POST', '/escalation-policies', admin, { name: 'Nights', levels: levels() })
    ).body.id;
    expect(
      (await req('PUT', '/escalation-policies/defaults/critical', operator, { policyId: id }))
        .status,
    ).toBe(403);
    const set = await req('PUT', '/escalation-policies/defaults/critical', admin, { policyId: id });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ critical: id, major: null });
    expect((await req('GET', '/escalation-policies/defaults', viewer)).body.critical).toBe(id);
    const unknown = await req('PUT', '/escalation-policies/defaults/major', admin, {
      policyId: '999999',
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe('body.policyId');
    expect(
      (await req('PUT', '/escalation-policies/defaults/urgent', admin, { policyId: id })).status,
    ).toBe(400);
    // Another tenant can neither see nor use it.
    expect(
      (await req('PUT', '/escalation-policies/defaults/critical', otherAdmin, { policyId: id }))
        .status,
    ).toBe(422);
    expect((await req('GET', `/escalation-policies/${id}`, otherAdmin)).status).toBe(404);
    expect((await req('DELETE', '/escalation-policies/defaults/critical', admin)).status).toBe(204);
    expect((await req('DELETE', '/escalation-policies/defaults/critical', admin)).status).toBe(404);
    expect(
      (await req('POST', '/escalation-policies', operator, { name: 'x', levels: levels() })).status,
    ).toBe(403);
  });
});

describe('templates', () => {
  it('upserts, lists and deletes an override; a bad template is refused naming the field', async () => {
    const saved = await req('PUT', '/templates', admin, {
      channel: 'email',
      event: 'firing',
      title: '[{{alert.severity}}] {{alert.rule.name}}',
      body: '{{alert.summary}}',
    });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ channel: 'email', event: 'firing', severity: '*' });
    const again = await req('PUT', '/templates', admin, {
      channel: 'email',
      event: 'firing',
      body: 'changed {{alert.summary}}',
    });
    expect(again.body.id).toBe(saved.body.id);
    const list = await req('GET', '/templates', viewer);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].body).toBe('changed {{alert.summary}}');

    const typo = await req('PUT', '/templates', admin, {
      channel: 'email',
      body: '{{alrt.summary}}',
    });
    expect(typo.status).toBe(422);
    expect(typo.body.errors[0].path).toBe('body.body');
    const channel = await req('PUT', '/templates', admin, { channel: 'fax', body: 'x' });
    expect(channel.body.errors[0].path).toBe('body.channel');
    const event = await req('PUT', '/templates', admin, {
      channel: 'sms',
      event: 'exploded',
      body: 'x',
    });
    expect(event.body.errors[0].path).toBe('body.event');

    expect((await req('PUT', '/templates', operator, { channel: 'sms', body: 'x' })).status).toBe(
      403,
    );
    expect((await req('DELETE', `/templates/${saved.body.id}`, otherAdmin)).status).toBe(404);
    expect((await req('DELETE', `/templates/${saved.body.id}`, admin)).status).toBe(204);
    expect((await req('GET', '/templates', viewer)).body.items).toEqual([]);
  });
});

describe('delivery log', () => {
  let alertId: string;
  const ids: string[] = [];

  beforeAll(async () => {
    const rule = await req('POST', '/rules', admin, {
      name: 'hot',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 30 },
      severity: 'major',
    });
    alertId = (
      await new AlertStore(api.db.pool).open({
        tenantId: 'acme',
        ruleId: rule.body.id,
        ruleVersion: 1,
        deviceKey: 'pump-1',
        severity: 'major',
        at: Date.now(),
        values: {},
        suppressed: null,
        flapping: false,
        repeat: true,
      })
    ).alert.id;
    const now = Date.now();
    const rows = ['email', 'pagerduty', 'webhook'].map((channel, i) => ({
      tenantId: 'acme',
      alertId: i < 2 ? alertId : null,
      channel,
      event: 'firing' as const,
      recipient: `${channel}:r${i}`,
      contactPointId: null,
      targetSealed: TEST_SECRET_BOX.seal(JSON.stringify({ routingKey: ROUTING_KEY })),
      payload: { title: `message ${i}` },
      idempotencyKey: `k${i}`,
      maxAttempts: 3,
      createdAt: now,
      notBefore: now,
      deadline: now + 3_600_000,
    }));
    for (const r of await insertDeliveries(api.db.pool, rows)) ids.push(r.id!);
    await api.db.pool.query(
      `UPDATE notification_deliveries SET status = 'failed', attempts = 1, last_error = 'boom',
              finished_at = now() WHERE id = $1`,
      [ids[1]],
    );
    await api.db.pool.query(
      `INSERT INTO notification_attempts (delivery_id, attempt, node, started_at, duration_ms,
              status, response_code, error)
       VALUES ($1, 1, 'node-1', now(), 120, 'permanent', 400, 'boom')`,
      [ids[1]],
    );
  });

  it('lists newest first with filters and cursor pages', async () => {
    const all = await req('GET', '/deliveries', viewer);
    expect(all.body.items.map((d: { id: string }) => d.id)).toEqual([...ids].reverse());
    const ofAlert = await req('GET', `/deliveries?alert=${alertId}`, viewer);
    expect(ofAlert.body.items).toHaveLength(2);
    const failed = await req('GET', '/deliveries?status=failed', viewer);
    expect(failed.body.items.map((d: { id: string }) => d.id)).toEqual([ids[1]]);
    const email = await req('GET', '/deliveries?channel=email', viewer);
    expect(email.body.items.map((d: { id: string }) => d.id)).toEqual([ids[0]]);
    const first = await req('GET', '/deliveries?limit=2', viewer);
    expect(first.body.items).toHaveLength(2);
    const second = await req('GET', `/deliveries?limit=2&cursor=${first.body.nextCursor}`, viewer);
    expect(second.body.items.map((d: { id: string }) => d.id)).toEqual([ids[0]]);
    expect(second.body.nextCursor).toBeNull();
    expect((await req('GET', '/deliveries?status=lost', viewer)).status).toBe(400);
  });

  it('shows one delivery with its attempts, never its sealed target', async () => {
    const res = await req('GET', `/deliveries/${ids[1]}`, viewer);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'failed',
      lastError: 'boom',
      payload: { title: 'message 1' },
      attemptLog: [{ attempt: 1, node: 'node-1', status: 'permanent', responseCode: 400 }],
    });
    expect(JSON.stringify(res.body)).not.toMatch(/target|gito:enc/i);
    expect((await req('GET', `/deliveries/${ids[1]}`, otherAdmin)).status).toBe(404);
    expect((await req('GET', '/deliveries', otherAdmin)).body.items).toEqual([]);
  });
});
