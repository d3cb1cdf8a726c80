import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyPrefix, generateApiKey } from '../../gateway/auth/api-keys.ts';
import { Authenticator, credentialFrom } from '../../gateway/auth/authenticator.ts';
import { hashPassword, verifyPassword } from '../../gateway/auth/passwords.ts';
import { satisfies } from '../../gateway/auth/roles.ts';
import { TokenSigner } from '../../gateway/auth/tokens.ts';
import { silentLogger } from '../../runtime/index.ts';
import {
  apiHandle,
  call,
  createKey,
  createTenantWithAdmin,
  createUser,
  startTestApi,
  type TestApi,
  TOKEN_SECRET,
} from './helpers.ts';

let api: TestApi;
let admin: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTenantWithAdmin(api, 'acme');
}, 30_000);
afterAll(() => api?.close());

const ME = '/api/v1/auth/me';

describe('credentials', () => {
  it('401 without a credential, with a malformed, unknown or wrongly signed one', async () => {
    const none = await call(api, 'GET', ME, undefined);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="gito"');
    expect(none.body.type).toBe('urn:gito:problem:unauthorized');

    const unknown = generateApiKey().key;
    const tampered = `${admin.slice(0, -4)}AAAA`;
    const forged = new TokenSigner('another-secret-of-at-least-32-bytes!!').issue(
      'acme',
      '1',
    ).token;
    for (const bad of ['garbage', unknown, tampered, forged, 'gitot.e30.AAAA']) {
      expect((await call(api, 'GET', ME, bad)).status, bad).toBe(401);
    }
    const basic = await api.app.inject({
      method: 'GET',
      url: ME,
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    expect(basic.statusCode).toBe(401);
  });

  it('accepts an API key as bearer or X-API-Key', async () => {
    const asBearer = await call(api, 'GET', ME, admin);
    expect(asBearer.status).toBe(200);
    expect(asBearer.body).toMatchObject({
      tenantId: 'acme',
      role: 'admin',
      principal: { kind: 'api_key', display: expect.stringContaining(apiKeyPrefix(admin)!) },
    });
    const asHeader = await api.app.inject({
      method: 'GET',
      url: ME,
      headers: { 'x-api-key': admin },
    });
    expect(asHeader.statusCode).toBe(200);
  });

  it('403 when the role is too weak; devices may only ingest', async () => {
    const viewer = await createKey(api, 'acme', 'viewer');
    const operator = await createKey(api, 'acme', 'operator');
    const device = await createKey(api, 'acme', 'device');
    expect((await call(api, 'GET', '/api/v1/devices', viewer)).status).toBe(200);
    const refused = await call(api, 'POST', '/api/v1/devices', viewer, { key: 'x-1' });
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe('urn:gito:problem:forbidden');
    expect((await call(api, 'POST', '/api/v1/devices', operator, { key: 'x-1' })).status).toBe(201);
    expect((await call(api, 'GET', '/api/v1/api-keys', operator)).status).toBe(403);
    expect((await call(api, 'GET', '/api/v1/devices', device)).status).toBe(403);
    expect((await call(api, 'POST', '/api/v1/ingest?device=x-1', admin, { t: 1 })).status).toBe(
      403,
    );
  });

  it('role order: admin > operator > viewer; device apart', () => {
    expect(satisfies('admin', 'viewer')).toBe(true);
    expect(satisfies('operator', 'admin')).toBe(false);
    expect(satisfies('viewer', 'viewer')).toBe(true);
    expect(satisfies('admin', 'device')).toBe(false);
    expect(satisfies('device', 'viewer')).toBe(false);
    expect(satisfies('device', 'device')).toBe(true);
  });
});

describe('API keys', () => {
  it('are shown once, listed by prefix only, and stop working when revoked', async () => {
    const created = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'grafana',
      role: 'viewer',
    });
    expect(created.status).toBe(201);
    const secret: string = created.body.key;
    expect(secret).toMatch(/^gito_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.body.prefix).toBe(apiKeyPrefix(secret));
    expect((await call(api, 'GET', ME, secret)).body.role).toBe('viewer');

    const list = await call(api, 'GET', '/api/v1/api-keys', admin);
    const listed = JSON.stringify(list.body);
    expect(listed).toContain(created.body.prefix);
    expect(listed).not.toContain(secret.split('_').slice(2).join('_'));
    expect(listed).not.toMatch(/hash/i);
    const row = await api.db.pool.query('SELECT key_hash FROM api_keys WHERE id = $1', [
      created.body.id,
    ]);
    expect(row.rows[0].key_hash).toHaveLength(32);

    const revoked = await call(api, 'DELETE', `/api/v1/api-keys/${created.body.id}`, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await call(api, 'GET', ME, secret)).status).toBe(401);
    const active = await call(api, 'GET', '/api/v1/api-keys', admin);
    expect(active.body.items.map((k: { id: string }) => k.id)).not.toContain(created.body.id);
    const all = await call(api, 'GET', '/api/v1/api-keys?includeRevoked=true', admin);
    expect(all.body.items.map((k: { id: string }) => k.id)).toContain(created.body.id);
  });

  it('expire at expiresAt', async () => {
    const key = await createKey(api, 'acme', 'viewer', {
      expiresAt: new Date(api.clock.now + 60_000),
    });
    expect((await call(api, 'GET', ME, key)).status).toBe(200);
    api.clock.now += 61_000;
    try {
      expect((await call(api, 'GET', ME, key)).status).toBe(401);
    } finally {
      api.clock.now -= 61_000;
    }
    const past = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'late',
      role: 'viewer',
      expiresAt: new Date(api.clock.now - 1000).toISOString(),
    });
    expect(past.status).toBe(400);
    expect(past.body.errors[0].path).toBe('body.expiresAt');
  });

  it('record last use lazily', async () => {
    const created = await call(api, 'POST', '/api/v1/api-keys', admin, {
      name: 'u',
      role: 'viewer',
    });
    expect(created.body.lastUsedAt).toBeNull();
    await call(api, 'GET', ME, created.body.key);
    const authenticator = apiHandle(api).authenticator;
    await authenticator.flush();
    const read = await call(api, 'GET', `/api/v1/api-keys/${created.body.id}`, admin);
    expect(read.body.lastUsedAt).not.toBeNull();
  });

  it('user-bound keys never exceed their user and die with a disabled user', async () => {
    const userId = await createUser(api, 'acme', 'bound@example.com', 'viewer');
    const key = await createKey(api, 'acme', 'admin', { userId });
    expect((await call(api, 'GET', ME, key)).body.role).toBe('viewer');
    await call(api, 'PATCH', `/api/v1/users/${userId}`, admin, { disabled: true });
    expect((await call(api, 'GET', ME, key)).status).toBe(401);
  });
});

describe('user login and tokens', () => {
  const password = 'correct horse battery';

  it('logs in with email and password and uses the token as a bearer', async () => {
    await createUser(api, 'acme', 'Ana@Example.com', 'operator', password);
    const login = await call(api, 'POST', '/api/v1/auth/login', undefined, {
      tenant: 'acme',
      email: 'ana@example.com',
      password,
    });
    expect(login.status).toBe(200);
    expect(login.body.user).toMatchObject({ email: 'Ana@Example.com', role: 'operator' });
    expect(login.body.user.lastLoginAt).toBeNull(); // as read before this login
    expect(Date.parse(login.body.expiresAt) - api.clock.now).toBeLessThanOrEqual(15 * 60_000);
    const me = await call(api, 'GET', ME, login.body.token);
    expect(me.body).toMatchObject({
      tenantId: 'acme',
      role: 'operator',
      principal: { kind: 'user', display: 'Ana@Example.com' },
    });
    const renewed = await call(api, 'POST', '/api/v1/auth/token', login.body.token);
    expect(renewed.status).toBe(200);
    expect((await call(api, 'POST', '/api/v1/auth/token', admin)).status).toBe(403);
  });

  it('refuses wrong passwords and unknown users alike', async () => {
    for (const body of [
      { tenant: 'acme', email: 'ana@example.com', password: 'wrong password!' },
      { tenant: 'acme', email: 'nobody@example.com', password },
      { tenant: 'nowhere', email: 'ana@example.com', password },
    ]) {
      const res = await call(api, 'POST', '/api/v1/auth/login', undefined, body);
      expect(res.status).toBe(401);
      expect(res.body.type).toBe('urn:gito:problem:invalid-credentials');
    }
  });

  it('tokens expire, and stop working when the user is disabled', async () => {
    const id = await createUser(api, 'acme', 'tess@example.com', 'viewer', password);
    const { body } = await call(api, 'POST', '/api/v1/auth/login', undefined, {
      tenant: 'acme',
      email: 'tess@example.com',
      password,
    });
    expect((await call(api, 'GET', ME, body.token)).status).toBe(200);
    api.clock.now += 15 * 60_000 + 1000;
    try {
      expect((await call(api, 'GET', ME, body.token)).status).toBe(401);
    } finally {
      api.clock.now -= 15 * 60_000 + 1000;
    }
    await call(api, 'PATCH', `/api/v1/users/${id}`, admin, { disabled: true });
    expect((await call(api, 'GET', ME, body.token)).status).toBe(401);
  });

  it('a user changes their own password with the current one', async () => {
    const id = await createUser(api, 'acme', 'pat@example.com', 'viewer', password);
    const { body } = await call(api, 'POST', '/api/v1/auth/login', undefined, {
      tenant: 'acme',
      email: 'pat@example.com',
      password,
    });
    const url = `/api/v1/users/${id}/password`;
    const without = await call(api, 'PUT', url, body.token, { password: 'a new long password' });
    expect(without.body.errors[0].path).toBe('body.currentPassword');
    const short = await call(api, 'PUT', url, body.token, {
      password: 'short',
      currentPassword: password,
    });
    expect(short.body.errors[0].path).toBe('body.password');
    const ok = await call(api, 'PUT', url, body.token, {
      password: 'a new long password',
      currentPassword: password,
    });
    expect(ok.status).toBe(204);
    const other = await createUser(api, 'acme', 'other@example.com', 'viewer');
    const foreign = await call(api, 'PUT', `/api/v1/users/${other}/password`, body.token, {
      password: 'a new long password',
    });
    expect(foreign.status).toBe(403);
    const relogin = await call(api, 'POST', '/api/v1/auth/login', undefined, {
      tenant: 'acme',
      email: 'pat@example.com',
      password: 'a new long password',
    });
    expect(relogin.status).toBe(200);
  });
});

describe('building blocks', () => {
  it('scrypt hashes verify only the right password', async () => {
    const stored = await hashPassword('s3cret password');
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('s3cret password', stored)).toBe(true);
    expect(await verifyPassword('s3cret passwore', stored)).toBe(false);
    expect(await verifyPassword('x', 'bcrypt$whatever')).toBe(false);
  });

  it('tokens carry tenant and user and are refused once expired or altered', () => {
    let now = 1_000_000;
    const signer = new TokenSigner(TOKEN_SECRET, 60_000, () => now);
    const { token } = signer.issue('acme', '42');
    expect(signer.verify(token)).toMatchObject({ tenantId: 'acme', userId: '42' });
    const [head, payload, sig] = token.split('.');
    const evil = Buffer.from(JSON.stringify({ tid: 'other', uid: '42', exp: 9e9 })).toString(
      'base64url',
    );
    expect(signer.verify(`${head}.${evil}.${sig}`)).toBeUndefined();
    expect(signer.verify(`${head}.${payload}.${sig}x`)).toBeUndefined();
    now += 60_001;
    expect(signer.verify(token)).toBeUndefined();
    expect(() => new TokenSigner('short')).toThrow(/at least 32 bytes/);
  });

  it('reads credentials from Authorization or X-API-Key', () => {
    expect(credentialFrom({})).toBeUndefined();
    expect(credentialFrom({ authorization: 'Bearer gito_abc_def' })).toEqual({
      kind: 'api_key',
      key: 'gito_abc_def',
    });
    expect(credentialFrom({ authorization: 'bearer gitot.a.b' })).toEqual({
      kind: 'token',
      token: 'gitot.a.b',
    });
    expect(credentialFrom({ 'x-api-key': 'gito_x_y' })).toEqual({
      kind: 'api_key',
      key: 'gito_x_y',
    });
  });

  it('forgets a revoked key at once on the gateway that revoked it', async () => {
    const authenticator = new Authenticator({
      pool: api.db.pool,
      signer: new TokenSigner(TOKEN_SECRET),
      logger: silentLogger,
      cacheTtlMs: 3_600_000,
    });
    const key = await createKey(api, 'acme', 'viewer');
    expect(await authenticator.authenticate({ kind: 'api_key', key })).toBeDefined();
    await api.db.pool.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = $1', [
      apiKeyPrefix(key),
    ]);
    // Cached: still valid here until forgotten (other gateways: until the cache TTL passes).
    expect(await authenticator.authenticate({ kind: 'api_key', key })).toBeDefined();
    authenticator.forgetKey(apiKeyPrefix(key)!);
    expect(await authenticator.authenticate({ kind: 'api_key', key })).toBeUndefined();
    await authenticator.close();
  });
});
