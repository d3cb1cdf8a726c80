import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDeadLetterSink } from '../../db/stores/dead-letters.ts';
import { BootstrapError, bootstrapKey, bootstrapTenant } from '../../gateway/bootstrap.ts';
import {
  CLUSTER_STATUS,
  call,
  createKey,
  createTenantWithAdmin,
  startTestApi,
  type TestApi,
} from './helpers.ts';

let api: TestApi;
let admin: string;
let viewer: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTenantWithAdmin(api, 'acme');
  viewer = await createKey(api, 'acme', 'viewer');
}, 30_000);
afterAll(() => api?.close());

describe('tenant', () => {
  it('reads and updates its own tenant; another id is not found', async () => {
    const read = await call(api, 'GET', '/api/v1/tenants/acme', viewer);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      id: 'acme',
      name: 'Tenant acme',
      telemetryRetentionDays: 365,
    });
    expect((await call(api, 'PATCH', '/api/v1/tenants/acme', viewer, { name: 'x' })).status).toBe(
      403,
    );
    const updated = await call(api, 'PATCH', '/api/v1/tenants/acme', admin, {
      name: 'Acme Corp',
      telemetryRetentionDays: 90,
      settings: { timezone: 'Europe/Paris' },
    });
    expect(updated.body).toMatchObject({
      name: 'Acme Corp',
      telemetryRetentionDays: 90,
      settings: { timezone: 'Europe/Paris' },
    });
    const bad = await call(api, 'PATCH', '/api/v1/tenants/acme', admin, {
      telemetryRetentionDays: 0,
    });
    expect(bad.body.errors[0].path).toBe('body.telemetryRetentionDays');
    expect((await call(api, 'GET', '/api/v1/tenants/other', admin)).status).toBe(404);
  });
});

describe('users', () => {
  it('create, read, list with filters, update, delete', async () => {
    const created = await call(api, 'POST', '/api/v1/users', admin, {
      email: 'olga@example.com',
      displayName: 'Olga',
      role: 'operator',
      phone: '+33612345678',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'olga@example.com', hasPassword: false });
    expect(JSON.stringify(created.body)).not.toMatch(/password_hash|scrypt/);
    const id = created.body.id;
    const dup = await call(api, 'POST', '/api/v1/users', admin, {
      email: 'OLGA@example.com',
      role: 'viewer',
    });
    expect(dup.status).toBe(409);
    expect(dup.body.errors[0].path).toBe('body.email');
    const badPhone = await call(api, 'POST', '/api/v1/users', admin, {
      email: 'p@example.com',
      role: 'viewer',
      phone: '0612',
    });
    expect(badPhone.body.errors[0].path).toBe('body.phone');

    expect((await call(api, 'GET', `/api/v1/users/${id}`, admin)).body.displayName).toBe('Olga');
    const listed = await call(api, 'GET', '/api/v1/users?role=operator&q=olg', admin);
    expect(listed.body.items.map((u: { id: string }) => u.id)).toEqual([id]);
    expect((await call(api, 'GET', '/api/v1/users', viewer)).status).toBe(403);

    const patched = await call(api, 'PATCH', `/api/v1/users/${id}`, admin, {
      role: 'viewer',
      displayName: null,
    });
    expect(patched.body).toMatchObject({ role: 'viewer', displayName: null });
    expect((await call(api, 'PATCH', `/api/v1/users/${id}`, admin, {})).status).toBe(400);
    expect((await call(api, 'DELETE', `/api/v1/users/${id}`, admin)).status).toBe(204);
    expect((await call(api, 'GET', `/api/v1/users/${id}`, admin)).status).toBe(404);
    expect((await call(api, 'DELETE', `/api/v1/users/${id}`, admin)).status).toBe(404);
  });
});

describe('teams', () => {
  it('create, list, rename, members, delete', async () => {
    const team = await call(api, 'POST', '/api/v1/teams', admin, {
      name: 'On call',
      description: 'Night',
    });
    expect(team.status).toBe(201);
    expect(team.body.memberCount).toBe(0);
    expect((await call(api, 'POST', '/api/v1/teams', admin, { name: 'on CALL' })).status).toBe(409);
    const user = await call(api, 'POST', '/api/v1/users', admin, {
      email: 'lead@example.com',
      role: 'operator',
    });

    const add = await call(
      api,
      'PUT',
      `/api/v1/teams/${team.body.id}/members/${user.body.id}`,
      admin,
      {
        role: 'lead',
      },
    );
    expect(add.status).toBe(200);
    expect(add.body).toMatchObject({
      userId: user.body.id,
      email: 'lead@example.com',
      role: 'lead',
    });
    const again = await call(
      api,
      'PUT',
      `/api/v1/teams/${team.body.id}/members/${user.body.id}`,
      admin,
      {},
    );
    expect(again.status).toBe(200);
    expect(again.body.role).toBe('member');
    expect(
      (await call(api, 'PUT', `/api/v1/teams/${team.body.id}/members/999999`, admin, {})).status,
    ).toBe(404);

    const members = await call(api, 'GET', `/api/v1/teams/${team.body.id}/members`, viewer);
    expect(members.body).toMatchObject({ items: [{ userId: user.body.id }], nextCursor: null });
    expect((await call(api, 'GET', `/api/v1/teams/${team.body.id}`, viewer)).body.memberCount).toBe(
      1,
    );
    const renamed = await call(api, 'PATCH', `/api/v1/teams/${team.body.id}`, admin, {
      name: 'Day shift',
    });
    expect(renamed.body.name).toBe('Day shift');
    expect((await call(api, 'GET', '/api/v1/teams?q=day', viewer)).body.items).toHaveLength(1);

    const url = `/api/v1/teams/${team.body.id}/members/${user.body.id}`;
    expect((await call(api, 'DELETE', url, admin)).status).toBe(204);
    expect((await call(api, 'DELETE', url, admin)).status).toBe(404);
    expect((await call(api, 'DELETE', `/api/v1/teams/${team.body.id}`, admin)).status).toBe(204);
    expect((await call(api, 'GET', `/api/v1/teams/${team.body.id}`, admin)).status).toBe(404);
  });
});

describe('API keys', () => {
  it('device keys may be bound to a device of the tenant only', async () => {
    const device = await call(api, 'POST', '/api/v1/devices', admin, { key: 'bound-1' });
    const key = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'pump',
      role: 'device',
      deviceId: device.body.id,
    });
    expect(key.status).toBe(201);
    expect(key.body).toMatchObject({
      role: 'device',
      deviceId: device.body.id,
      deviceKey: 'bound-1',
    });
    const wrongRole = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'x',
      role: 'viewer',
      deviceId: device.body.id,
    });
    expect(wrongRole.body.errors[0].path).toBe('body.deviceId');
    const unknown = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'x',
      role: 'device',
      deviceId: '987654',
    });
    expect(unknown.status).toBe(422);
    const read = await call(api, 'GET', `/api/v1/api-keys/${key.body.id}`, admin);
    expect(read.body.key).toBeUndefined();
  });
});

describe('operators', () => {
  it('cluster status comes from the node', async () => {
    const operator = await createKey(api, 'acme', 'operator');
    expect((await call(api, 'GET', '/api/v1/cluster/status', viewer)).status).toBe(403);
    const res = await call(api, 'GET', '/api/v1/cluster/status', operator);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(CLUSTER_STATUS);
  });

  it("dead letters: only the tenant's actors, newest first, filtered and paged", async () => {
    const sink = new PostgresDeadLetterSink(api.db.pool);
    const at = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 3; i++) {
      await sink.add({
        actor: `device/acme:pump-${i}`,
        messageType: 'telemetry',
        message: { type: 'telemetry', n: i },
        attempts: 3,
        error: 'boom',
        reason: 'handler-failed',
        at: at + i * 1000,
      });
    }
    await sink.add({
      actor: 'device/acme-east:pump-9',
      messageType: 'telemetry',
      message: { secret: 'other tenant' },
      attempts: 3,
      error: 'boom',
      reason: 'handler-failed',
      at,
    });
    await sink.add({
      actor: 'rule/acme:7',
      messageType: 'evaluate',
      message: null,
      attempts: 1,
      error: 'x',
      reason: 'handler-failed',
      at,
    });
    const operator = await createKey(api, 'acme', 'operator');
    const first = await call(api, 'GET', '/api/v1/dead-letters?kind=device&limit=2', operator);
    expect(first.status).toBe(200);
    expect(first.body.items.map((d: { actor: string }) => d.actor)).toEqual([
      'device/acme:pump-2',
      'device/acme:pump-1',
    ]);
    expect(first.body.items[0].message).toEqual({ type: 'telemetry', n: 2 });
    const second = await call(
      api,
      'GET',
      `/api/v1/dead-letters?kind=device&limit=2&cursor=${first.body.nextCursor}`,
      operator,
    );
    expect(second.body.items.map((d: { actor: string }) => d.actor)).toEqual([
      'device/acme:pump-0',
    ]);
    expect(second.body.nextCursor).toBeNull();
    const all = await call(api, 'GET', '/api/v1/dead-letters', operator);
    expect(all.body.items).toHaveLength(4);
    expect(JSON.stringify(all.body)).not.toContain('acme-east');
  });
});

describe('bootstrap (gito tenant create / key create)', () => {
  it('creates a tenant with a working admin key, and more keys; refuses duplicates', async () => {
    const { tenant, key } = await bootstrapTenant(api.db.pool, { id: 'boot', name: 'Boot Ltd' });
    expect(tenant).toMatchObject({ id: 'boot', name: 'Boot Ltd' });
    const me = await call(api, 'GET', '/api/v1/auth/me', key);
    expect(me.body).toMatchObject({ tenantId: 'boot', role: 'admin' });
    await expect(bootstrapTenant(api.db.pool, { id: 'boot' })).rejects.toThrow(BootstrapError);
    await expect(bootstrapTenant(api.db.pool, { id: 'no/slash' })).rejects.toThrow(/tenant id/);
    const viewerKey = await bootstrapKey(api.db.pool, 'boot', { role: 'viewer' });
    expect((await call(api, 'GET', '/api/v1/auth/me', viewerKey.key)).body.role).toBe('viewer');
    await expect(bootstrapKey(api.db.pool, 'nope')).rejects.toThrow(/no tenant 'nope'/);
  });
});
