import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceRouteRoles } from '../../gateway/auth/hooks.ts';
import { fieldPath } from '../../gateway/http/errors.ts';
import { buildGateway } from '../../gateway/server.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { bearer, call, createTenantWithAdmin, startTestApi, type TestApi } from './helpers.ts';

let db: MigratedTestDatabase;
let api: TestApi;
let key: string;

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  api = await startTestApi({}, db);
  key = await createTenantWithAdmin(api, 'acme');
}, 30_000);
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const PROBLEM = 'application/problem+json; charset=utf-8';

describe('validation errors', () => {
  it('answer problem+json naming every offending body field', async () => {
    const res = await call(api, 'POST', '/api/v1/devices', key, {
      key: 'has space',
      tags: 'not-an-array',
      colour: 'red',
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.body).toMatchObject({
      type: 'urn:gito:problem:validation',
      title: 'Bad Request',
      status: 400,
      instance: '/api/v1/devices',
    });
    const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(['body.colour', 'body.key', 'body.tags']);
    expect(res.body.errors).toContainEqual({ path: 'body.colour', message: 'is not allowed' });
  });

  it('name missing fields, query fields, path parameters and array items', async () => {
    const missing = await call(api, 'POST', '/api/v1/groups', key, {});
    expect(missing.body.errors).toEqual([{ path: 'body.name', message: 'is required' }]);

    const query = await call(api, 'GET', '/api/v1/devices?limit=0&sort=name', key);
    expect(query.status).toBe(400);
    expect(query.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'query.limit',
      'query.sort',
    ]);

    const params = await call(api, 'GET', '/api/v1/devices/abc', key);
    expect(params.status).toBe(400);
    expect(params.body.errors[0].path).toBe('params.id');

    const bulk = await call(api, 'POST', '/api/v1/devices/bulk', key, {
      devices: [{ key: 'ok-1' }, { key: 'bad/key' }],
    });
    expect(bulk.status).toBe(400);
    expect(bulk.body.errors[0].path).toBe('body.devices[1].key');
  });

  it('map Ajv error locations to dotted paths', () => {
    expect(
      fieldPath('body', { keyword: 'type', instancePath: '/devices/3/tags/0', params: {} }),
    ).toBe('body.devices[3].tags[0]');
    expect(
      fieldPath('querystring', {
        keyword: 'required',
        instancePath: '',
        params: { missingProperty: 'bucket' },
      }),
    ).toBe('query.bucket');
  });

  it('refuse a malformed cursor naming query.cursor', async () => {
    const res = await call(api, 'GET', '/api/v1/devices?cursor=nonsense', key);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'query.cursor', message: 'is not a cursor this API issued' },
    ]);
  });

  it('answer malformed JSON and unknown routes as problems too', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: { ...bearer(key), 'content-type': 'application/json' },
      payload: '{"key": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.json().type).toBe('urn:gito:problem:malformed-body');

    const unknown = await call(api, 'GET', '/api/v1/nothing-here', undefined);
    expect(unknown.status).toBe(404);
    expect(unknown.body.type).toBe('urn:gito:problem:not-found');
  });

  it('are counted in metrics by status and type', async () => {
    await call(api, 'GET', '/api/v1/devices?limit=-1', key);
    const metrics = await api.registry.getSingleMetricAsString('gito_gateway_problems_total');
    expect(metrics).toMatch(/gito_gateway_problems_total\{status="400",type="validation"\} [1-9]/);
  });
});

describe('pagination', () => {
  it('pages with limit and an opaque cursor until nextCursor is null', async () => {
    const devices = Array.from({ length: 5 }, (_, i) => ({ key: `page-${i}` }));
    await call(api, 'POST', '/api/v1/devices/bulk', key, { devices });
    const seen: string[] = [];
    let url = '/api/v1/devices?limit=2&q=page-';
    for (let pages = 0; pages < 10; pages++) {
      const res = await call(api, 'GET', url, key);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((d: { key: string }) => d.key));
      if (res.body.nextCursor === null) break;
      url = `/api/v1/devices?limit=2&q=page-&cursor=${res.body.nextCursor}`;
    }
    expect(seen).toEqual(devices.map((d) => d.key));
  });
});

describe('request ids', () => {
  it('returns a generated id, or the one the client sent', async () => {
    const generated = await call(api, 'GET', '/healthz', undefined);
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const given = await api.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { 'x-request-id': 'client-req-42' },
    });
    expect(given.headers['x-request-id']).toBe('client-req-42');
    expect(given.json().requestId).toBe('client-req-42');
    const hostile = await api.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'bad id\nwith newline' },
    });
    expect(hostile.headers['x-request-id']).not.toContain('bad id');
  });

  it('are in every request log line, and credentials in query strings are not', async () => {
    const lines: string[] = [];
    const app = await buildGateway({
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
      registry: new Registry(),
      nodeId: 'n',
      readiness: {},
      status: () => ({ ok: true }),
    });
    await app.inject({
      method: 'GET',
      url: '/status?access_token=SECRET-TOKEN-123',
      headers: { 'x-request-id': 'log-test-1' },
    });
    await app.close();
    const logged = lines.map((l) => JSON.parse(l) as { reqId?: string; msg: string });
    expect(logged.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(logged.every((l) => l.reqId === 'log-test-1')).toBe(true);
    expect(lines.join('')).not.toContain('SECRET-TOKEN-123');
    expect(lines[0]).toContain('access_token=[redacted]');
  });
});

describe('ETags and compression', () => {
  it('tags GET responses and answers 304 to a matching If-None-Match', async () => {
    const first = await api.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      headers: bearer(key),
    });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await api.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      headers: { ...bearer(key), 'if-none-match': `W/${etag}, "other"` },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const post = await call(api, 'POST', '/api/v1/groups', key, { name: 'etag-group' });
    expect(post.headers.etag).toBeUndefined();
  });

  it('compresses large responses for clients that accept it', async () => {
    const res = await api.app.inject({
      method: 'GET',
      url: '/api/v1/devices?limit=500',
      headers: { ...bearer(key), 'accept-encoding': 'gzip' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    const body = JSON.parse(gunzipSync(res.rawPayload).toString()) as { items: unknown[] };
    expect(body.items.length).toBeGreaterThan(0);
  });
});

describe('rate limits', () => {
  it('limits each API key separately and answers 429 as a problem', async () => {
    const limited = await startTestApi(
      { rateLimit: { max: 3, timeWindowMs: 60_000, loginMax: 2 } },
      db,
    );
    try {
      const other = await createTenantWithAdmin(limited, 'limited-b');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await call(limited, 'GET', '/api/v1/auth/me', key)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await call(limited, 'GET', '/api/v1/auth/me', key);
      expect(refused.headers['content-type']).toBe(PROBLEM);
      expect(refused.body.type).toBe('urn:gito:problem:rate-limited');
      expect(refused.headers['retry-after']).toBeDefined();
      // Another key has its own budget; probes are never limited.
      expect((await call(limited, 'GET', '/api/v1/auth/me', other)).status).toBe(200);
      for (let i = 0; i < 5; i++) {
        expect((await call(limited, 'GET', '/healthz', undefined)).status).toBe(200);
      }
      // Login has its own, lower limit per client address.
      const login = { tenant: 'limited-b', email: 'x@example.com', password: 'wrong' };
      const logins: number[] = [];
      for (let i = 0; i < 3; i++) {
        logins.push((await call(limited, 'POST', '/api/v1/auth/login', undefined, login)).status);
      }
      expect(logins).toEqual([401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('route roles', () => {
  const gateway = () =>
    buildGateway({
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      nodeId: 'n',
      readiness: {},
    });

  it('refuses to start with a route that declares no role', async () => {
    const app = await gateway();
    app.register(async (scope) => {
      scope.get('/api/v1/forgotten', async () => 'open');
    });
    await expect(app.ready()).rejects.toThrow(/GET \/api\/v1\/forgotten declares no config.role/);
  });

  it('refuses a public route other than probes, login and docs', async () => {
    const app = Fastify();
    enforceRouteRoles(app);
    expect(() =>
      app.get('/api/v1/secrets', { config: { role: 'public' } }, async () => 'x'),
    ).toThrow(/may not be public/);
  });

  it("applies a GET route's role to its HEAD twin", async () => {
    const anonymous = await api.app.inject({ method: 'HEAD', url: '/api/v1/devices' });
    expect(anonymous.statusCode).toBe(401);
    const viewer = await api.app.inject({
      method: 'HEAD',
      url: '/api/v1/devices',
      headers: bearer(key),
    });
    expect(viewer.statusCode).toBe(200);
  });

  it('serves the OpenAPI document and UI publicly', async () => {
    const doc = await call(api, 'GET', '/docs/json', undefined);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(doc.body.paths['/api/v1/devices'].get.tags).toEqual(['devices']);
    expect(doc.body.paths['/api/v1/devices'].get['x-gito-role']).toBe('viewer');
    expect(doc.body.components.schemas.Problem).toBeDefined();
    const ui = await api.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });
});

it('serves probes without credentials next to the API', async () => {
  expect((await call(api, 'GET', '/healthz', undefined)).body).toEqual({
    status: 'ok',
    node: 'test-node',
  });
  expect((await call(api, 'GET', '/readyz', undefined)).status).toBe(200);
  const metrics = await api.app.inject({ method: 'GET', url: '/metrics' });
  expect(metrics.body).toContain('gito_gateway_request_duration_seconds');
});
