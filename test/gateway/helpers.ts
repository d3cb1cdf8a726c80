/**
 * A real gateway for route tests: a fresh migrated PostgreSQL, a real ActorSystem (memory
 * stores) with the device actor registered, the real ingest pipeline and writer, and helpers to
 * create tenants, keys and users directly in the database.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { createDeviceActor } from '../../actors/device/index.ts';
import { BadInputCounter } from '../../actors/ingest/bad-input.ts';
import { IngestPipeline } from '../../actors/ingest/pipeline.ts';
import { KeyedRateLimiter } from '../../actors/ingest/rate-limit.ts';
import { DEFAULT_LIMITS } from '../../actors/ingest/types.ts';
import { AlertStore } from '../../db/alerts/alert-store.ts';
import { DeviceDirectory } from '../../db/devices/directory.ts';
import { insertApiKey, type KeyRole } from '../../db/gateway/api-keys.ts';
import { insertTenant } from '../../db/gateway/tenants.ts';
import { insertUser, type UserRole } from '../../db/gateway/users.ts';
import { ensureTelemetryPartitions } from '../../db/partitions.ts';
import { SecretBox } from '../../db/secrets/secret-box.ts';
import { TelemetryWriter } from '../../db/telemetry/writer.ts';
import { apiHandleOf } from '../../gateway/api.ts';
import { generateApiKey } from '../../gateway/auth/api-keys.ts';
import { hashPassword } from '../../gateway/auth/passwords.ts';
import type { ApiDependencies, ClusterStatusReport } from '../../gateway/deps.ts';
import { buildGateway, type Gateway } from '../../gateway/server.ts';
import { ActorSystem, silentLogger } from '../../runtime/index.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';

export const TOKEN_SECRET = 'test-secret-of-at-least-thirty-two-bytes!';

/** Seals contact point secrets in route tests (a fixed key: the tests open what they sealed). */
export const TEST_SECRET_BOX = new SecretBox(Buffer.alloc(32, 7));

export interface TestApi {
  readonly app: Gateway;
  readonly db: MigratedTestDatabase;
  readonly system: ActorSystem;
  readonly registry: Registry;
  readonly counter: BadInputCounter;
  /** Moves the gateway's clock (tokens, key expiry, default telemetry range). */
  clock: { now: number };
  close(): Promise<void>;
}

export const CLUSTER_STATUS: ClusterStatusReport = {
  epoch: 7,
  nodes: [
    { id: 'node-1', address: '127.0.0.1:7070', actors: 3, settled: true, byKind: { device: 3 } },
  ],
};

export async function startTestApi(
  overrides: Partial<ApiDependencies> = {},
  existing?: MigratedTestDatabase,
): Promise<TestApi> {
  const db = existing ?? (await createMigratedTestDatabase());
  await ensureTelemetryPartitions(db.pool);
  const clock = { now: Date.now() };
  const system = new ActorSystem({ logger: silentLogger, defaultAskTimeoutMs: 2_000 });
  system.register(createDeviceActor({ events: { transition() {} } }));
  const counter = new BadInputCounter();
  const writer = new TelemetryWriter(db.pool, { maxDelayMs: 1 });
  const pipeline = new IngestPipeline({
    directory: new DeviceDirectory(db.pool),
    rows: writer,
    deliver: (target, message) => system.tell(target, message),
    counter,
    logger: silentLogger,
    rateLimiter: new KeyedRateLimiter({ ratePerSecond: 1_000, burst: 1_000 }),
    limits: DEFAULT_LIMITS,
  });
  const registry = new Registry();
  const app = await buildGateway({
    logger: pino({ level: 'silent' }),
    registry,
    nodeId: 'test-node',
    readiness: {},
    api: {
      pool: db.pool,
      actors: system,
      tokenSecret: TOKEN_SECRET,
      ingest: () => ({ pipeline, limits: DEFAULT_LIMITS, counter }),
      clusterStatus: async () => CLUSTER_STATUS,
      alerting: {
        alerts: new AlertStore(db.pool),
        databaseUrl: db.url,
        refreshRules: async () => {},
      },
      notify: { sealer: TEST_SECRET_BOX },
      now: () => clock.now,
      ...overrides,
    },
  });
  await app.ready();
  return {
    app,
    db,
    system,
    registry,
    counter,
    clock,
    async close() {
      await app.close();
      await writer.close();
      await system.shutdown();
      if (existing === undefined) await db.drop();
    },
  };
}

/** A tenant with an admin API key; returns the key. */
export async function createTenantWithAdmin(api: TestApi, tenantId: string): Promise<string> {
  await insertTenant(api.db.pool, { id: tenantId, name: `Tenant ${tenantId}` });
  return createKey(api, tenantId, 'admin');
}

export async function createKey(
  api: TestApi,
  tenantId: string,
  role: KeyRole,
  extra: { deviceId?: string; expiresAt?: Date; userId?: string } = {},
): Promise<string> {
  const generated = generateApiKey();
  await insertApiKey(api.db.pool, tenantId, {
    name: `${role} key`,
    prefix: generated.prefix,
    keyHash: generated.hash,
    role,
    deviceId: extra.deviceId ?? null,
    userId: extra.userId ?? null,
    expiresAt: extra.expiresAt ?? null,
  });
  return generated.key;
}

export async function createUser(
  api: TestApi,
  tenantId: string,
  email: string,
  role: UserRole,
  password?: string,
): Promise<string> {
  const user = await insertUser(api.db.pool, tenantId, {
    email,
    role,
    passwordHash: password === undefined ? null : await hashPassword(password),
  });
  return user!.id;
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** inject() shorthand: JSON in, parsed JSON out. */
export async function call(
  api: TestApi,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  key: string | undefined,
  body?: unknown,
) {
  const res = await api.app.inject({
    method,
    url,
    headers: key === undefined ? {} : bearer(key),
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
  const json: unknown = res.body === '' ? undefined : JSON.parse(res.body);
  // biome-ignore lint/suspicious/noExplicitAny: test convenience: bodies are checked field by field
  return { status: res.statusCode, headers: res.headers, body: json as any };
}

export function apiHandle(api: TestApi) {
  const handle = apiHandleOf(api.app);
  if (handle === undefined) throw new Error('gateway has no API');
  return handle;
}
