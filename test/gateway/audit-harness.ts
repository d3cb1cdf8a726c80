/**
 * A gateway for the audit, GDPR and live-stream tests: the real gateway conventions (problem
 * errors, request ids, roles, authentication) with the audit plugin installed and the resources
 * under test registered. Credentials are made directly in the database.
 */
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { AuditLog } from '../../db/audit/index.ts';
import { insertApiKey, type KeyRole } from '../../db/gateway/api-keys.ts';
import { insertUser, type UserRole } from '../../db/gateway/users.ts';
import { type ApiHandle, registerApi } from '../../gateway/api.ts';
import { installAudit } from '../../gateway/audit/plugin.ts';
import { generateApiKey } from '../../gateway/auth/api-keys.ts';
import type { ApiDependencies } from '../../gateway/deps.ts';
import type { ApiResource } from '../../gateway/routes/context.ts';
import { buildGateway, type Gateway } from '../../gateway/server.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';

export const TOKEN_SECRET = 'audit-test-secret-of-at-least-32-bytes!!';

export interface Harness {
  readonly app: Gateway;
  readonly db: MigratedTestDatabase;
  readonly api: ApiHandle;
  readonly log: AuditLog;
  readonly registry: Registry;
  /** http://127.0.0.1:PORT when started with listen. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Registered besides the standard API resources. */
  readonly resources: readonly ApiResource[];
  /** Share a database between harnesses (the caller drops it). */
  readonly db?: MigratedTestDatabase;
  readonly auditLog?: (db: MigratedTestDatabase) => AuditLog;
  readonly listen?: boolean;
  readonly now?: () => number;
  readonly rateLimit?: ApiDependencies['rateLimit'];
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const db = options.db ?? (await createMigratedTestDatabase());
  const registry = new Registry();
  const app = await buildGateway({
    logger: pino({ level: 'silent' }),
    registry,
    nodeId: 'audit-test',
    readiness: {},
  });
  const log = options.auditLog?.(db) ?? new AuditLog(db.pool);
  const api = await registerApi(app, {
    pool: db.pool,
    actors: {
      ask: () => Promise.reject(new Error('no actors in audit tests')),
    },
    tokenSecret: TOKEN_SECRET,
    docs: false,
    resources: options.resources,
    install: (root) => installAudit(root, { log, registry }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
  });
  let url: string | undefined;
  if (options.listen === true) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  } else {
    await app.ready();
  }
  return {
    app,
    db,
    api,
    log,
    registry,
    url,
    async close() {
      await app.close();
      await api.close();
      await log.flush();
      if (options.db === undefined) await db.drop();
    },
  };
}

export async function createTenant(h: Harness, id: string): Promise<void> {
  await h.db.pool.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [id]);
}

export async function createUser(
  h: Harness,
  tenantId: string,
  fields: { email: string; role?: UserRole; displayName?: string; phone?: string },
): Promise<{ id: string; token: string }> {
  const user = await insertUser(h.db.pool, tenantId, {
    email: fields.email,
    role: fields.role ?? 'viewer',
    displayName: fields.displayName ?? null,
    phone: fields.phone ?? null,
  });
  return { id: user!.id, token: h.api.signer.issue(tenantId, user!.id).token };
}

export async function createKey(
  h: Harness,
  tenantId: string,
  role: KeyRole,
  userId?: string,
): Promise<{ id: string; key: string }> {
  const generated = generateApiKey();
  const key = await insertApiKey(h.db.pool, tenantId, {
    name: `${role} key`,
    prefix: generated.prefix,
    keyHash: generated.hash,
    role,
    userId: userId ?? null,
  });
  return { id: key.id, key: generated.key };
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** inject() shorthand: JSON in, parsed JSON (or text) out. */
export async function call(
  h: Harness,
  method: Method,
  url: string,
  credential: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await h.app.inject({
    method,
    url,
    headers: {
      'user-agent': 'audit-test/1.0',
      ...(credential === undefined ? {} : { authorization: `Bearer ${credential}` }),
      ...headers,
    },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
  let parsed: unknown = res.body;
  if (
    /^application\/(problem\+)?json/.test(String(res.headers['content-type'])) &&
    res.body !== ''
  ) {
    parsed = JSON.parse(res.body);
  }
  // biome-ignore lint/suspicious/noExplicitAny: test convenience: bodies are checked field by field
  return { status: res.statusCode, headers: res.headers, body: parsed as any, text: res.body };
}
