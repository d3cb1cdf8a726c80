import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASURE_ACTION, verifyAuditChain } from '../../db/audit/index.ts';
import { SecretBox } from '../../db/secrets/index.ts';
import { auditResource } from '../../gateway/audit/routes.ts';
import { gdprResource } from '../../gateway/gdpr/routes.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import {
  call,
  createKey,
  createTenant,
  createUser,
  type Harness,
  startHarness,
} from './audit-harness.ts';

let db: MigratedTestDatabase;
let h: Harness;
const box = new SecretBox(Buffer.alloc(32, 7));

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  h = await startHarness({ db, resources: [auditResource, gdprResource()] });
}, 30_000);
afterAll(async () => {
  await h?.close();
  await db?.drop();
});

/** Every (table, column) of text or JSON type whose value contains `needle`, any case. */
async function traces(pool: Pool, needle: string): Promise<string[]> {
  const { rows: columns } = await pool.query<{ table: string; column: string }>(
    `SELECT c.relname AS table, a.attname AS column
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        AND format_type(a.atttypid, a.atttypmod) ~ '^(text|character|jsonb|json)'`,
  );
  const found: string[] = [];
  for (const { table, column } of columns) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}" WHERE "${column}"::text ILIKE $1`,
      [`%${needle}%`],
    );
    if (rows[0]!.n > 0) found.push(`${table}.${column}`);
  }
  return found;
}

/** A tenant where alice has left traces everywhere the platform keeps data. */
async function seedAlice(tenant: string, email: string, phone: string, name: string) {
  await createTenant(h, tenant);
  const boss = await createUser(h, tenant, { email: `boss@${tenant}.test`, role: 'admin' });
  const pool = db.pool;

  const created = await call(h, 'POST', '/api/v1/users', boss.token, {
    email,
    displayName: name,
    phone,
    role: 'operator',
  });
  expect(created.status).toBe(201);
  const alice = {
    id: created.body.id as string,
    token: h.api.signer.issue(tenant, created.body.id).token,
  };
  const key = await createKey(h, tenant, 'operator', alice.id);
  // Alice acts (as herself and through her key); the boss edits her profile and teams.
  expect((await call(h, 'POST', '/api/v1/devices', alice.token, { key: 'pump-1' })).status).toBe(
    201,
  );
  expect(
    (await call(h, 'POST', '/api/v1/devices', key.key, { key: 'pump-2', name: 'by key' })).status,
  ).toBe(201);
  expect(
    (await call(h, 'PATCH', `/api/v1/users/${alice.id}`, boss.token, { displayName: `${name} L.` }))
      .status,
  ).toBe(200);
  const team = await call(h, 'POST', '/api/v1/teams', boss.token, {
    name: 'Night shift',
    description: `lead: ${email}`,
  });
  expect(team.status).toBe(201);
  expect(
    (await call(h, 'PUT', `/api/v1/teams/${team.body.id}/members/${alice.id}`, boss.token, {}))
      .status,
  ).toBe(200);

  // Notifications, alerts and runtime state, written the way those features write them.
  await pool.query(
    `INSERT INTO contact_points (tenant_id, user_id, kind, name, address, config, secret)
     VALUES ($1, $2, 'email', 'work', $3, jsonb_build_object('to', $3::text), NULL),
            ($1, $2, 'sms', 'mobile', $5, '{}', NULL),
            ($1, $2, 'slack', 'dm', 'hooks.slack.com', '{}', $4),
            ($1, NULL, 'email', 'shared', $3, '{}', NULL)`,
    [tenant, alice.id, email, box.seal('{"url":"https://hooks.slack.com/x"}'), phone],
  );
  await pool.query(
    `INSERT INTO notification_preferences (tenant_id, user_id, time_zone) VALUES ($1, $2, 'Europe/Paris')`,
    [tenant, alice.id],
  );
  const rule = await pool.query<{ id: string }>(
    `INSERT INTO rules (tenant_id, name, definition) VALUES ($1, 'hot', '{}') RETURNING id::text`,
    [tenant],
  );
  const alert = await pool.query<{ id: string }>(
    `INSERT INTO alerts (tenant_id, rule_id, rule_version, severity, opened_at, last_at, state,
                         acknowledged_at, acknowledged_by)
     VALUES ($1, $2, 1, 'critical', now(), now(), 'acknowledged', now(), $3) RETURNING id::text`,
    [tenant, rule.rows[0]!.id, `user:${alice.id}`],
  );
  await pool.query(
    `INSERT INTO alert_events (tenant_id, alert_id, type, actor, at, details)
     VALUES ($1, $2, 'acknowledged', $3, now(), jsonb_build_object('note', 'on it, ' || $4::text))`,
    [tenant, alert.rows[0]!.id, `user:${alice.id}`, email],
  );
  const delivery = await pool.query<{ id: string }>(
    `INSERT INTO notification_deliveries (tenant_id, alert_id, channel, event, recipient,
        target_sealed, payload, idempotency_key, max_attempts, next_attempt_at, deadline, created_at)
     VALUES ($1, $2, 'email', 'firing', 'email:' || $3, $4,
             jsonb_build_object('to', $3::text, 'body', 'Hello ' || $5), 'k-' || $1, 3,
             now(), now() + interval '1 hour', now())
     RETURNING id::text`,
    [tenant, alert.rows[0]!.id, email.toUpperCase(), box.seal(email), name],
  );
  await pool.query(
    `INSERT INTO notification_attempts (delivery_id, attempt, node, started_at, status, error)
     VALUES ($1, 1, 'n1', now(), 'retryable', '450 mailbox ' || $2 || ' busy')`,
    [delivery.rows[0]!.id, email],
  );
  await pool.query(
    `INSERT INTO actor_state (identity, state, epoch) VALUES ($1, jsonb_build_object('to', $2::text), 1)`,
    [`escalation/${tenant}:${alert.rows[0]!.id}`, email],
  );
  return { boss, alice, key, alertId: alert.rows[0]!.id };
}

describe('GDPR export', () => {
  it('streams everything held about a user as one JSON document, secrets redacted', async () => {
    const { boss, alice, key, alertId } = await seedAlice(
      'exp',
      'alice@exp.test',
      '+15550000001',
      'Alice Export',
    );
    const operator = await createKey(h, 'exp', 'operator');
    expect((await call(h, 'GET', `/api/v1/users/${alice.id}/export`, operator.key)).status).toBe(
      403,
    );
    expect((await call(h, 'GET', '/api/v1/users/99999999/export', boss.token)).status).toBe(404);

    const res = await call(h, 'GET', `/api/v1/users/${alice.id}/export`, boss.token);
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toContain(`user-${alice.id}-export.json`);
    const doc = JSON.parse(res.text);
    expect(doc).toMatchObject({
      format: 'gito.user-export.v1',
      tenantId: 'exp',
      user: { email: 'alice@exp.test', display_name: 'Alice Export L.', phone: '+15550000001' },
      apiKeys: [{ id: Number(key.id), key_hash: '[redacted]' }],
      teams: [{ name: 'Night shift', role: 'member' }],
      notificationPreferences: [{ time_zone: 'Europe/Paris' }],
      alertEvents: [{ type: 'acknowledged', actor: `user:${alice.id}` }],
      alerts: [{ id: Number(alertId), severity: 'critical' }],
    });
    expect([null, '[redacted]']).toContain(doc.user.password_hash);
    expect(doc.contactPoints).toHaveLength(3);
    expect(doc.contactPoints.find((c: { kind: string }) => c.kind === 'slack').secret).toBe(
      '[redacted]',
    );
    const actions = doc.auditRecords.map((r: { action: string }) => r.action);
    // Her own actions (token and key) and the changes made to her.
    expect(actions).toEqual(['user.create', 'device.create', 'device.create', 'user.update']);
    expect(res.text).not.toContain('scrypt$');
  });
});

describe('GDPR erasure', () => {
  it('leaves no trace of the email anywhere, and the audit chain still verifies', async () => {
    const email = 'alice.erase@example.com';
    const { boss, alice } = await seedAlice('era', email, '+15551234567', 'Alice Liddell');
    expect((await verifyAuditChain(db.pool, 'era')).ok).toBe(true);
    expect((await traces(db.pool, email)).length).toBeGreaterThan(5);

    const self = await call(h, 'POST', `/api/v1/users/${boss.id}/erase`, boss.token);
    expect(self.status).toBe(403);
    const res = await call(h, 'POST', `/api/v1/users/${alice.id}/erase`, boss.token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      userId: alice.id,
      pseudonym: `erased-user-${alice.id}`,
      removed: { api_keys: 1, team_members: 1, contact_points: 3, notification_preferences: 1 },
      unscanned: [],
    });
    expect(res.body.pseudonymisedRecords).toBeGreaterThanOrEqual(5);

    expect(await traces(db.pool, email)).toEqual([]);
    expect(await traces(db.pool, '+15551234567')).toEqual([]);
    expect(await traces(db.pool, 'Alice Liddell')).toEqual([]);
    expect(await traces(db.pool, 'Alice Liddell L.')).toEqual([]);

    const verified = await verifyAuditChain(db.pool, 'era');
    expect(verified).toMatchObject({ ok: true, broken: null });
    expect(verified.pseudonymised).toBe(res.body.pseudonymisedRecords);

    // The erasure itself is on record, once, by the admin.
    const erasures = await call(h, 'GET', `/api/v1/audit?action=${ERASURE_ACTION}`, boss.token);
    expect(erasures.body.items).toHaveLength(1);
    expect(erasures.body.items[0]).toMatchObject({
      seq: res.body.auditSeq,
      actor: { kind: 'user', id: boss.id },
      resource: { type: 'user', id: alice.id },
    });
    const own = await call(
      h,
      'GET',
      `/api/v1/audit?actorKind=user&actorId=${alice.id}`,
      boss.token,
    );
    for (const record of own.body.items) {
      expect(record.actor.display).toBe(`erased-user-${alice.id}`);
      expect(record.ip).toBeNull();
    }

    // The account is gone for good: token refused, profile emptied, erasure not repeated.
    expect((await call(h, 'POST', '/api/v1/devices', alice.token, { key: 'x-9' })).status).toBe(
      401,
    );
    const user = await call(h, 'GET', `/api/v1/users/${alice.id}`, boss.token);
    expect(user.body).toMatchObject({
      email: `erased-user-${alice.id}@erased.invalid`,
      displayName: null,
      phone: null,
      disabled: true,
      hasPassword: false,
    });
    expect((await call(h, 'POST', `/api/v1/users/${alice.id}/erase`, boss.token)).status).toBe(409);
    expect((await call(h, 'POST', '/api/v1/users/99999999/erase', boss.token)).status).toBe(404);
    expect((await verifyAuditChain(db.pool, 'era')).ok).toBe(true);
  });

  it('touches neither another tenant nor a longer address', async () => {
    const email = 'carol@example.com';
    await createTenant(h, 'iso-a');
    await createTenant(h, 'iso-b');
    const boss = await createUser(h, 'iso-a', { email: 'boss@iso-a.test', role: 'admin' });
    const carol = await createUser(h, 'iso-a', { email, displayName: 'Carol' });
    const malcarol = await createUser(h, 'iso-a', { email: `mal${email}`, displayName: 'Mal' });
    const twin = await createUser(h, 'iso-b', { email, displayName: 'Carol' });
    await db.pool.query(
      `INSERT INTO contact_points (tenant_id, user_id, kind, address)
       VALUES ('iso-a', $1, 'email', $3), ('iso-b', $2, 'email', $4)`,
      [malcarol.id, twin.id, `mal${email}`, email],
    );
    const res = await call(h, 'POST', `/api/v1/users/${carol.id}/erase`, boss.token);
    expect(res.status).toBe(200);
    const { rows } = await db.pool.query<{ tenant_id: string; address: string }>(
      `SELECT tenant_id, address FROM contact_points WHERE tenant_id IN ('iso-a', 'iso-b')
        ORDER BY tenant_id`,
    );
    expect(rows).toEqual([
      { tenant_id: 'iso-a', address: `mal${email}` },
      { tenant_id: 'iso-b', address: email },
    ]);
    const emails = await db.pool.query<{ email: string }>(
      'SELECT email FROM users WHERE id = ANY($1::bigint[]) ORDER BY id',
      [[malcarol.id, twin.id]],
    );
    expect(emails.rows.map((r) => r.email)).toEqual([`mal${email}`, email]);
  });
});
