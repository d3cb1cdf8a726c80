/** The gateway over real HTTP (a listening socket, fetch), end to end from login to ingest. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createKey,
  createTenantWithAdmin,
  createUser,
  startTestApi,
  type TestApi,
} from './helpers.ts';

let api: TestApi;
let url: string;

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
}, 30_000);
afterAll(() => api?.close());

it('logs in, registers a device, ingests and reads it back over HTTP', async () => {
  const admin = await createTenantWithAdmin(api, 'acme');
  await createUser(api, 'acme', 'ops@acme.example', 'operator', 'operator password 1');

  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'http-test-1' },
    body: JSON.stringify({
      tenant: 'acme',
      email: 'ops@acme.example',
      password: 'operator password 1',
    }),
  });
  expect(login.status).toBe(200);
  expect(login.headers.get('x-request-id')).toBe('http-test-1');
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const created = await fetch(`${url}/api/v1/devices`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ key: 'http-dev', tags: ['http'] }),
  });
  expect(created.status).toBe(201);
  const device = (await created.json()) as { id: string };

  const deviceKey = await createKey(api, 'acme', 'device', { deviceId: device.id });
  const ingest = await fetch(`${url}/api/v1/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${deviceKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ temperature: 19.25 }),
  });
  expect(ingest.status).toBe(200);

  const telemetry = await fetch(`${url}/api/v1/devices/${device.id}/telemetry`, { headers: auth });
  expect(((await telemetry.json()) as { items: unknown[] }).items).toEqual([
    { ts: expect.any(String), metrics: { temperature: 19.25 } },
  ]);

  // Compression and ETags on the wire.
  await fetch(`${url}/api/v1/devices/bulk`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ devices: Array.from({ length: 40 }, (_, i) => ({ key: `bulk-${i}` })) }),
  });
  const list = await fetch(`${url}/api/v1/devices?limit=100`, {
    headers: { ...auth, 'accept-encoding': 'gzip' },
  });
  expect(list.headers.get('content-encoding')).toBe('gzip');
  expect(((await list.json()) as { items: unknown[] }).items).toHaveLength(41);
  const etag = list.headers.get('etag')!;
  const revalidated = await fetch(`${url}/api/v1/devices?limit=100`, {
    headers: { ...auth, 'if-none-match': etag },
  });
  expect(revalidated.status).toBe(304);

  const denied = await fetch(`${url}/api/v1/api-keys`, { headers: auth });
  expect(denied.status).toBe(403);
  expect(denied.headers.get('content-type')).toContain('application/problem+json');
  const anonymous = await fetch(`${url}/api/v1/devices`);
  expect(anonymous.status).toBe(401);
  void admin;
});
