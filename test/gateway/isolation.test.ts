/**
 * Tenant isolation and authentication over the whole route table, taken from the generated
 * OpenAPI document (so a route added later is walked too): tenant B's admin must get nothing of
 * tenant A's, and every non-public route must answer 401 without credentials.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertStore } from '../../db/alerts/alert-store.ts';
import { insertDeliveries } from '../../db/notify/deliveries.ts';
import { PostgresDeadLetterSink } from '../../db/stores/dead-letters.ts';
import { call, createKey, createTenantWithAdmin, startTestApi, type TestApi } from './helpers.ts';

interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  role: string | undefined;
  parameters: Array<{ in: string; name: string; required?: boolean; schema: Schema }>;
  body: Schema | undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema from the OpenAPI document, walked loosely
type Schema = any;

let api: TestApi;
let adminA: string;
let adminB: string;
let deviceKeyB: string;
let operations: Operation[];
/** Ids of tenant A's resources, by path parameter name and resource. */
const a = {
  device: '',
  group: '',
  team: '',
  user: '',
  key: '',
  keyPrefix: '',
  rule: '',
  window: '',
  alert: '',
  contactPoint: '',
  policy: '',
  template: '',
  delivery: '',
};
/** Strings only tenant A's data contains: none may appear in a 2xx answer to tenant B. */
const MARKERS = [
  'alpha-pump',
  'alice@alpha.example',
  'Alpha team',
  'Alpha group',
  'alpha-secret-reading',
  'device/alpha:',
  'Alpha Corp',
  'Alpha rule',
  'Alpha window',
  'Alpha pager',
  'alpha-pager-routing-key',
  'Alpha policy',
  'Alpha template',
  'alpha delivery title',
];

beforeAll(async () => {
  api = await startTestApi();
  adminA = await createTenantWithAdmin(api, 'alpha');
  adminB = await createTenantWithAdmin(api, 'bravo');
  deviceKeyB = await createKey(api, 'bravo', 'device');
  await call(api, 'PATCH', '/api/v1/tenants/alpha', adminA, { name: 'Alpha Corp' });
  const must = async (method: Operation['method'], url: string, body?: unknown) => {
    const res = await call(api, method, url, adminA, body);
    expect(res.status, `${method} ${url}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  a.device = (await must('POST', '/api/v1/devices', { key: 'alpha-pump', tags: ['alpha-tag'] })).id;
  a.group = (await must('POST', '/api/v1/groups', { name: 'Alpha group' })).id;
  await must('PUT', `/api/v1/groups/${a.group}/devices/${a.device}`);
  a.user = (
    await must('POST', '/api/v1/users', { email: 'alice@alpha.example', role: 'operator' })
  ).id;
  a.team = (await must('POST', '/api/v1/teams', { name: 'Alpha team' })).id;
  await must('PUT', `/api/v1/teams/${a.team}/members/${a.user}`, {});
  const key = await must('POST', '/api/v1/api-keys', {
    name: 'alpha-pump key',
    role: 'device',
    deviceId: a.device,
  });
  a.key = key.id;
  a.keyPrefix = key.prefix;
  MARKERS.push(key.prefix);
  const ingest = await call(api, 'POST', '/api/v1/ingest', key.key, {
    note: 'alpha-secret-reading',
    t: 1,
  });
  expect(ingest.status).toBe(200);
  await new PostgresDeadLetterSink(api.db.pool).add({
    actor: 'device/alpha:alpha-pump',
    messageType: 'telemetry',
    message: { note: 'alpha-secret-reading' },
    attempts: 3,
    error: 'boom',
    reason: 'handler-failed',
    at: Date.now(),
  });
  a.rule = (
    await must('POST', '/api/v1/rules', {
      name: 'Alpha rule',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 30 },
      severity: 'major',
    })
  ).id;
  a.window = (
    await must('POST', '/api/v1/maintenance-windows', {
      name: 'Alpha window',
      scope: { type: 'tenant' },
      start: '2026-01-01T00:00:00Z',
      duration: '1h',
    })
  ).id;
  a.alert = (
    await new AlertStore(api.db.pool).open({
      tenantId: 'alpha',
      ruleId: a.rule,
      ruleVersion: 1,
      deviceKey: 'alpha-pump',
      severity: 'major',
      at: Date.now(),
      values: { temp: 31 },
      suppressed: null,
      flapping: false,
      repeat: true,
    })
  ).alert.id;
  a.contactPoint = (
    await must('POST', '/api/v1/contact-points', {
      kind: 'pagerduty',
      name: 'Alpha pager',
      userId: a.user,
      target: { routingKey: 'alpha-pager-routing-key' },
    })
  ).id;
  await must('PUT', `/api/v1/users/${a.user}/preferences`, { timeZone: 'Europe/Berlin' });
  a.policy = (
    await must('POST', '/api/v1/escalation-policies', {
      name: 'Alpha policy',
      levels: [{ delay: '0s', targets: [{ type: 'contact_point', id: a.contactPoint }] }],
    })
  ).id;
  await must('PUT', '/api/v1/escalation-policies/defaults/major', { policyId: a.policy });
  a.template = (
    await must('PUT', '/api/v1/templates', {
      channel: 'email',
      body: 'Alpha template {{alert.summary}}',
    })
  ).id;
  const [delivery] = await insertDeliveries(api.db.pool, [
    {
      tenantId: 'alpha',
      alertId: a.alert,
      channel: 'pagerduty',
      event: 'firing',
      recipient: 'pagerduty:alpha',
      contactPointId: a.contactPoint,
      targetSealed: 'plain:{"routingKey":"alpha-pager-routing-key"}',
      payload: { title: 'alpha delivery title' },
      idempotencyKey: 'alpha-delivery',
      maxAttempts: 3,
      createdAt: Date.now(),
      notBefore: Date.now(),
      deadline: Date.now() + 3_600_000,
    },
  ]);
  a.delivery = delivery!.id!;
  // Tenant B has data of its own, so its lists are not trivially empty.
  await call(api, 'POST', '/api/v1/devices', adminB, { key: 'bravo-pump' });

  const doc = (await call(api, 'GET', '/docs/json', undefined)).body;
  operations = [];
  for (const [path, item] of Object.entries<Record<string, Schema>>(doc.paths)) {
    for (const [method, op] of Object.entries<Schema>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      operations.push({
        method: method.toUpperCase() as Operation['method'],
        path,
        role: op['x-gito-role'],
        parameters: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
}, 60_000);
afterAll(() => api?.close());

/** Tenant A's id for a path or body field, by its name and the resource the path is about. */
function aIdFor(name: string, path: string): string {
  if (name === 'tenantId') return 'alpha';
  if (name === 'userId' || name === 'userIds') return a.user;
  if (name === 'deviceId' || name === 'deviceIds' || name === 'device') return a.device;
  if (name === 'group') return a.group;
  const resource = path.split('/')[3];
  switch (resource) {
    case 'devices':
      return a.device;
    case 'groups':
      return a.group;
    case 'teams':
      return a.team;
    case 'rules':
      return a.rule;
    case 'maintenance-windows':
      return a.window;
    case 'alerts':
      return a.alert;
    case 'users':
      return a.user;
    case 'api-keys':
      return a.key;
    case 'contact-points':
      return a.contactPoint;
    case 'escalation-policies':
      return a.policy;
    case 'templates':
      return a.template;
    case 'deliveries':
      return a.delivery;
    default:
      // A resource this test does not know yet: an id A's data surely uses.
      return a.device;
  }
}

/** A plausible value for a schema, with every id pointing at tenant A's resources. */
function sample(schema: Schema, name: string, path: string): unknown {
  if (schema.anyOf)
    return sample(
      schema.anyOf.find((s: Schema) => s.type !== 'null'),
      name,
      path,
    );
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props: Record<string, Schema> = schema.properties ?? {};
      for (const [prop, s] of Object.entries(props)) {
        const idLike = /^(device|user)Ids?$|Id$/.test(prop);
        if (schema.required?.includes(prop) || idLike) out[prop] = sample(s, prop, path);
      }
      if (Object.keys(out).length === 0 && Object.keys(props).length > 0) {
        const [prop, s] = Object.entries(props)[0]!;
        out[prop] = sample(s, prop, path);
      }
      return out;
    }
    case 'array':
      return [sample(schema.items ?? {}, name, path)];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      if (schema.pattern === '^[0-9]{1,18}$') return aIdFor(name, path);
      if (schema.format === 'email') return 'walker@bravo.example';
      if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      if (name === 'bucket') return '1h';
      if (name === 'tenant') return 'alpha';
      if (/password/i.test(name)) return 'a long enough password';
      return 'walk-value';
    default:
      return {};
  }
}

function request(op: Operation) {
  let url = op.path;
  let usesAId = false;
  const query: string[] = [];
  for (const p of op.parameters) {
    if (p.in === 'path') {
      url = url.replace(`{${p.name}}`, String(aIdFor(p.name, op.path)));
      usesAId = true;
    } else if (p.in === 'query' && (p.required || p.name === 'device' || p.name === 'group')) {
      const value = sample(p.schema, p.name, op.path);
      for (const v of Array.isArray(value) ? value : [value]) {
        query.push(`${p.name}=${encodeURIComponent(String(v))}`);
      }
      // A filter naming A's device or group may answer 2xx (an empty list, as for an unknown
      // id); the marker check below makes sure nothing of A's comes back.
    }
  }
  if (query.length > 0) url += `?${query.join('&')}`;
  const body = op.body === undefined ? undefined : sample(op.body, 'body', op.path);
  const bodyText = JSON.stringify(body ?? {});
  const ids = [
    a.device,
    a.user,
    a.group,
    a.team,
    a.key,
    a.rule,
    a.window,
    a.alert,
    a.contactPoint,
    a.policy,
    a.template,
    a.delivery,
  ];
  if (ids.some((id) => bodyText.includes(`"${id}"`))) {
    usesAId = true;
  }
  return { url, body, usesAId };
}

const protectedOps = () => operations.filter((op) => op.role !== undefined);

describe('the route table', () => {
  it('is read from the OpenAPI document and every API route declares a role', () => {
    expect(operations.length).toBeGreaterThan(30);
    const api = operations.filter((op) => op.path.startsWith('/api/'));
    const unprotected = api.filter((op) => op.role === undefined).map((op) => op.path);
    expect(unprotected).toEqual(['/api/v1/auth/login']);
  });
});

describe('tenant isolation', () => {
  it("tenant B's admin gets none of tenant A's resources on any route", async () => {
    const leaks: string[] = [];
    for (const op of protectedOps()) {
      for (const key of op.role === 'device' ? [deviceKeyB, adminB] : [adminB]) {
        const { url, body, usesAId } = request(op);
        const res = await call(api, op.method, url, key, body);
        const where = `${op.method} ${url} -> ${res.status} ${JSON.stringify(res.body)}`;
        if (res.status >= 200 && res.status < 300) {
          const text = JSON.stringify(res.body ?? '');
          if (usesAId) leaks.push(`2xx on A's resource: ${where}`);
          for (const marker of MARKERS)
            if (text.includes(marker)) leaks.push(`'${marker}' in ${where}`);
        } else if (usesAId && ![400, 403, 404, 422].includes(res.status)) {
          leaks.push(`unexpected status (existence may leak): ${where}`);
        } else if (res.status >= 500) {
          leaks.push(`server error: ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it("left tenant A's resources untouched", async () => {
    const read = async (url: string) => (await call(api, 'GET', url, adminA)).body;
    expect((await read(`/api/v1/devices/${a.device}`)).key).toBe('alpha-pump');
    expect((await read(`/api/v1/groups/${a.group}`)).deviceCount).toBe(1);
    expect((await read(`/api/v1/teams/${a.team}`)).memberCount).toBe(1);
    expect((await read(`/api/v1/users/${a.user}`)).email).toBe('alice@alpha.example');
    expect((await read(`/api/v1/api-keys/${a.key}`)).revokedAt).toBeNull();
    expect((await read('/api/v1/tenants/alpha')).name).toBe('Alpha Corp');
    expect((await read(`/api/v1/contact-points/${a.contactPoint}`)).name).toBe('Alpha pager');
    expect((await read(`/api/v1/escalation-policies/${a.policy}`)).name).toBe('Alpha policy');
    expect((await read('/api/v1/escalation-policies/defaults')).major).toBe(a.policy);
    expect((await read(`/api/v1/templates/${a.template}`)).channel).toBe('email');
    expect((await read(`/api/v1/deliveries/${a.delivery}`)).status).toBe('pending');
    expect((await read(`/api/v1/users/${a.user}/preferences`)).timeZone).toBe('Europe/Berlin');
    const status = await read(`/api/v1/devices/${a.device}/status`);
    expect(status.metrics.note.value).toBe('alpha-secret-reading');
  });
});

describe('authentication', () => {
  it('every non-public route answers 401 without credentials', async () => {
    const open: string[] = [];
    for (const op of protectedOps()) {
      const { url, body } = request(op);
      const res = await call(api, op.method, url, undefined, body);
      if (res.status !== 401 || res.body?.type !== 'urn:gito:problem:unauthorized') {
        open.push(`${op.method} ${url} -> ${res.status}`);
      }
    }
    expect(open).toEqual([]);
  });
});
