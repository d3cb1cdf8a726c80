import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord, GLOBAL_CHAIN, searchAudit } from '../../db/audit/index.ts';
import { createPool } from '../../db/pool.ts';
import { auditResource } from '../../gateway/audit/routes.ts';
import { authOf } from '../../gateway/auth/hooks.ts';
import type { ApiResource } from '../../gateway/routes/context.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import {
  call,
  createKey,
  createTenant,
  createUser,
  type Harness,
  startHarness,
} from './audit-harness.ts';

/** Routes that exist only to exercise the audit plugin. */
const widgets: ApiResource = {
  tag: 'widgets',
  description: 'test routes',
  routes(app) {
    app.post(
      '/widgets',
      {
        config: { role: 'operator' },
        schema: {
          body: Type.Object(
            { name: Type.String({ minLength: 1 }), secret: Type.Optional(Type.String()) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        request.audit = {
          resourceType: 'widget',
          resourceId: '1',
          after: { ...request.body, token: 'tok-123', shownOnce: 'gito_abc_SHOWNONCE' },
        };
        request.auditSecrets = ['gito_abc_SHOWNONCE'];
        return reply.code(201).send({ ok: true });
      },
    );
    app.post('/widgets/:id/explode', { config: { role: 'operator' } }, async () => {
      throw new Error('boom');
    });
    app.post('/widgets/quiet', { config: { role: 'operator', audit: false } }, async () => ({}));
    app.post('/widgets/ingest', { config: { role: 'device' } }, async () => ({}));
    app.get('/widgets', { config: { role: 'viewer' } }, async () => []);
    app.delete('/widgets/:id', { config: { role: 'operator' } }, async (request) => {
      request.audit = { resourceType: 'widget', resourceId: '7', before: { name: 'w' } };
      return { tenant: authOf(request).tenantId };
    });
  },
};

let db: MigratedTestDatabase;
let h: Harness;
let admin: { id: string; token: string };
let viewerKey: { id: string; key: string };
let operatorKey: { id: string; key: string };

async function records(tenant: string): Promise<AuditRecord[]> {
  await h.log.flush();
  return (await searchAudit(db.pool, tenant, {}, { limit: 500 })).records;
}

async function lastRecord(tenant: string): Promise<AuditRecord> {
  return (await records(tenant))[0]!;
}

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  h = await startHarness({ db, resources: [auditResource, widgets] });
  await createTenant(h, 'acme');
  admin = await createUser(h, 'acme', { email: 'root@acme.test', role: 'admin' });
  viewerKey = await createKey(h, 'acme', 'viewer');
  operatorKey = await createKey(h, 'acme', 'operator');
}, 30_000);
afterAll(async () => {
  await h?.close();
  await db?.drop();
});

describe('audit plugin', () => {
  it('records a successful mutation with actor, diff, request id, ip and user agent', async () => {
    const created = await call(h, 'POST', '/api/v1/users', admin.token, {
      email: 'new@acme.test',
      role: 'viewer',
      password: 'correct horse battery',
    });
    expect(created.status).toBe(201);
    const record = await lastRecord('acme');
    expect(record).toMatchObject({
      actor: { kind: 'user', id: admin.id, display: 'root@acme.test' },
      action: 'user.create',
      resource: { type: 'user', id: created.body.id },
      requestId: created.headers['x-request-id'],
      ip: '127.0.0.1',
      userAgent: 'audit-test/1.0',
      result: { status: 201, outcome: 'ok' },
      diff: { after: { email: 'new@acme.test' } },
    });
    expect(JSON.stringify(record)).not.toContain('correct horse');

    const patched = await call(h, 'PATCH', `/api/v1/users/${created.body.id}`, admin.token, {
      displayName: 'New Person',
    });
    expect(patched.status).toBe(200);
    expect((await lastRecord('acme')).diff).toMatchObject({
      before: { displayName: null },
      after: { displayName: 'New Person' },
      changed: expect.arrayContaining(['displayName']),
    });
  });

  it('records refusals: 401 in the global chain, 403, validation errors and 404', async () => {
    const anonymous = await call(h, 'POST', '/api/v1/users', undefined, { email: 'x@y.z' });
    expect(anonymous.status).toBe(401);
    expect((await lastRecord(GLOBAL_CHAIN)).actor).toEqual({
      kind: 'anonymous',
      id: null,
      display: null,
    });
    expect(await lastRecord(GLOBAL_CHAIN)).toMatchObject({
      action: 'POST /api/v1/users',
      resource: { type: 'user' },
      result: { status: 401, outcome: 'refused' },
    });

    const forbidden = await call(h, 'POST', '/api/v1/users', viewerKey.key, { email: 'x@y.z' });
    expect(forbidden.status).toBe(403);
    expect(await lastRecord('acme')).toMatchObject({
      actor: { kind: 'api_key', id: viewerKey.id },
      action: 'POST /api/v1/users',
      result: { status: 403, outcome: 'refused' },
    });

    const invalid = await call(h, 'POST', '/api/v1/users', admin.token, { email: 'nope' });
    expect(invalid.status).toBe(400);
    expect(await lastRecord('acme')).toMatchObject({ result: { status: 400, outcome: 'refused' } });

    const missing = await call(h, 'DELETE', '/api/v1/users/987654', admin.token);
    expect(missing.status).toBe(404);
    expect(await lastRecord('acme')).toMatchObject({
      action: 'DELETE /api/v1/users/:id',
      resource: { type: 'user', id: '987654' },
      result: { status: 404, outcome: 'refused' },
    });
  });

  it('records server errors, redacts secrets, and skips reads, opted-out and device routes', async () => {
    const before = (await records('acme')).length;
    expect((await call(h, 'POST', '/api/v1/widgets/5/explode', operatorKey.key, {})).status).toBe(
      500,
    );
    expect(await lastRecord('acme')).toMatchObject({
      action: 'POST /api/v1/widgets/:id/explode',
      resource: { type: 'widget', id: '5' },
      result: { status: 500, outcome: 'error' },
    });

    const created = await call(h, 'POST', '/api/v1/widgets', operatorKey.key, {
      name: 'w',
      secret: 's3cr3t',
    });
    expect(created.status).toBe(201);
    expect((await lastRecord('acme')).diff).toEqual({
      after: { name: 'w', secret: '[redacted]', token: '[redacted]', shownOnce: '[redacted]' },
    });

    expect((await call(h, 'DELETE', '/api/v1/widgets/7', operatorKey.key)).status).toBe(200);
    expect(await lastRecord('acme')).toMatchObject({ action: 'widget.delete' });

    expect((await call(h, 'GET', '/api/v1/widgets', viewerKey.key)).status).toBe(200);
    expect((await call(h, 'POST', '/api/v1/widgets/quiet', operatorKey.key, {})).status).toBe(200);
    const device = await createKey(h, 'acme', 'device');
    expect((await call(h, 'POST', '/api/v1/widgets/ingest', device.key, {})).status).toBe(200);
    expect((await records('acme')).length).toBe(before + 3);
  });

  it('waits for a slow database rather than losing the record', async () => {
    await h.log.flush();
    const blocker = await db.pool.connect();
    let settled = false;
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM audit_heads WHERE tenant_id = 'acme' FOR UPDATE`);
      const pending = call(h, 'DELETE', '/api/v1/widgets/7', operatorKey.key).then((res) => {
        settled = true;
        return res;
      });
      // The audit write is now queued behind the lock (and so is the response).
      for (;;) {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if (rows[0]!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(settled).toBe(false);
      await blocker.query('COMMIT');
      expect((await pending).status).toBe(200);
    } finally {
      blocker.release();
    }
    expect(await lastRecord('acme')).toMatchObject({
      action: 'widget.delete',
      resource: { id: '7' },
    });
  });

  it('does not record rate-limited requests', async () => {
    const limited = await startHarness({ db, resources: [widgets], rateLimit: { max: 2 } });
    try {
      await createTenant(limited, 'limited');
      const op = await createKey(limited, 'limited', 'operator');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push(
          (await call(limited, 'POST', '/api/v1/widgets', op.key, { name: 'w' })).status,
        );
      }
      expect(statuses).toEqual([201, 201, 429]);
      await limited.log.flush();
      expect((await searchAudit(db.pool, 'limited', {})).records).toHaveLength(2);
    } finally {
      await limited.close();
    }
  });

  it('answers the request and counts the failure when the record cannot be written', async () => {
    const dead = createPool('postgres://postgres@127.0.0.1:1/none', { onError: () => {} });
    const broken = await startHarness({
      db,
      resources: [widgets],
      auditLog: () => new AuditLog(dead, { retryDelaysMs: [0] }),
    });
    try {
      const res = await call(broken, 'POST', '/api/v1/widgets', operatorKey.key, { name: 'w' });
      expect(res.status).toBe(201);
      const metrics = await broken.registry.metrics();
      expect(metrics).toMatch(/^gito_audit_write_errors_total\{?[^}]*\}? 1$/m);
    } finally {
      await broken.close();
      await dead.end();
    }
  });
});

describe('audit routes', () => {
  it('search with filters and a cursor, admin only', async () => {
    const tenant = 'search';
    await createTenant(h, tenant);
    const boss = await createUser(h, tenant, { email: 'boss@search.test', role: 'admin' });
    const op = await createKey(h, tenant, 'operator');
    for (let i = 0; i < 5; i++) {
      await call(h, 'POST', '/api/v1/widgets', op.key, { name: `widget-${i}` });
    }
    await call(h, 'DELETE', '/api/v1/widgets/3', op.key);
    await h.log.flush();

    expect((await call(h, 'GET', '/api/v1/audit', op.key)).status).toBe(403);
    const all = await call(h, 'GET', '/api/v1/audit?limit=4', boss.token);
    expect(all.status).toBe(200);
    expect(all.body.items.map((r: AuditRecord) => r.seq)).toEqual([6, 5, 4, 3]);
    const next = await call(
      h,
      'GET',
      `/api/v1/audit?limit=4&cursor=${all.body.nextCursor}`,
      boss.token,
    );
    expect(next.body.items.map((r: AuditRecord) => r.seq)).toEqual([2, 1]);
    expect(next.body.nextCursor).toBeNull();

    const filtered = await call(
      h,
      'GET',
      `/api/v1/audit?action=widget.*&actorKind=api_key&actorId=${op.id}&q=WIDGET-2`,
      boss.token,
    );
    expect(filtered.body.items.map((r: AuditRecord) => r.seq)).toEqual([3]);
    const bad = await call(h, 'GET', '/api/v1/audit?outcome=maybe&cursor=zzz', boss.token);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('query.outcome');
    const badCursor = await call(h, 'GET', '/api/v1/audit?cursor=zzz', boss.token);
    expect(badCursor.body.errors[0].path).toBe('query.cursor');
    const badRange = await call(
      h,
      'GET',
      '/api/v1/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      boss.token,
    );
    expect(badRange.body.errors[0].path).toBe('query.to');
  });

  it('exports CSV and JSON lines in chain order', async () => {
    const tenant = 'export';
    await createTenant(h, tenant);
    const boss = await createUser(h, tenant, { email: 'boss@export.test', role: 'admin' });
    const op = await createKey(h, tenant, 'operator');
    await call(h, 'POST', '/api/v1/widgets', op.key, { name: '=cmd|calc' });
    await call(h, 'DELETE', '/api/v1/widgets/9', op.key);
    await h.log.flush();

    const jsonl = await call(h, 'GET', '/api/v1/audit/export?format=jsonl', boss.token);
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers['content-type']).toBe('application/x-ndjson');
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l: string) => JSON.parse(l));
    expect(lines.map((r: AuditRecord) => [r.seq, r.action])).toEqual([
      [1, 'widget.create'],
      [2, 'widget.delete'],
    ]);
    expect(lines[1].prevHash).toBe(lines[0].hash);

    const csv = await call(
      h,
      'GET',
      '/api/v1/audit/export?format=csv&action=widget.create',
      boss.token,
    );
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="audit-export-/);
    const rows = csv.text.trim().split('\r\n');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^seq,at,/);
    expect(rows[1]).toContain('=cmd|calc'); // inside the JSON diff cell, quoted: not a formula
    expect(rows[1]!.startsWith('1,')).toBe(true);
  });

  it('verifies the chain, reports a tampered row, and audits retention changes', async () => {
    const tenant = 'verify';
    await createTenant(h, tenant);
    const boss = await createUser(h, tenant, { email: 'boss@verify.test', role: 'admin' });
    const op = await createKey(h, tenant, 'operator');
    for (let i = 0; i < 3; i++) await call(h, 'POST', '/api/v1/widgets', op.key, { name: `w${i}` });
    const retention = await call(h, 'PUT', '/api/v1/audit/retention', boss.token, { days: 400 });
    expect(retention.body).toEqual({ days: 400 });
    await h.log.flush();
    expect(await lastRecord(tenant)).toMatchObject({
      action: 'audit.retention.update',
      diff: { before: { auditRetentionDays: null }, after: { auditRetentionDays: 400 } },
    });

    const ok = await call(h, 'GET', '/api/v1/audit/verify', boss.token);
    expect(ok.body).toMatchObject({ ok: true, records: 4, broken: null, head: { seq: 4 } });
    expect((await call(h, 'GET', '/api/v1/audit/verify', op.key)).status).toBe(403);

    await db.pool.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable');
    try {
      await db.pool.query(
        `UPDATE audit_log SET resource_id = '2' WHERE tenant_id = $1 AND seq = 2`,
        [tenant],
      );
    } finally {
      await db.pool.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable');
    }
    const tampered = await call(h, 'GET', '/api/v1/audit/verify', boss.token);
    expect(tampered.body).toMatchObject({
      ok: false,
      broken: { seq: 2, reason: expect.stringMatching(/altered/) },
    });
  });
});
