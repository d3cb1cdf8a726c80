import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactPointFields, targetOfContactPoint } from '../../actors/notify/contact-points.ts';
import { saveTemplateOverride } from '../../actors/notify/templates/templates.ts';
import { createTenant } from '../../db/devices/registry.ts';
import {
  createContactPoint,
  getContactPointsWithSecrets,
  getUsersContactPoints,
  listContactPoints,
  updateContactPoint,
} from '../../db/notify/contact-points.ts';
import {
  createEscalationPolicy,
  defaultEscalationPolicy,
  getEscalationPolicy,
  setDefaultEscalationPolicy,
  updateEscalationPolicy,
} from '../../db/notify/escalation-policies.ts';
import {
  DEFAULT_PREFERENCES,
  getPreferences,
  PreferencesError,
  putPreferences,
} from '../../db/notify/preferences.ts';
import {
  plaintextSealer,
  type SecretSealer,
  withPlaintextFallback,
} from '../../db/notify/secrets.ts';
import { deleteTemplateOverride, listTemplateOverrides } from '../../db/notify/templates.ts';
import { SecretBox } from '../../db/secrets/index.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';

/** A stand-in for the AES-GCM sealer: reversible, visibly not plaintext. */
const reversing: SecretSealer = {
  seal: (s) => `rev:${[...s].reverse().join('')}`,
  open: (s) => [...s.slice(4)].reverse().join(''),
};

describe('notification stores', () => {
  let db: MigratedTestDatabase;
  let userId: string;

  beforeAll(async () => {
    db = await createMigratedTestDatabase();
    await createTenant(db.pool, { id: 'acme' });
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO users (tenant_id, email) VALUES ('acme', 'ana@example.com') RETURNING id::text AS id`,
    );
    userId = rows[0]!.id;
  });
  afterAll(() => db?.drop());

  it('stores contact points with their secret fields sealed', async () => {
    const fields = contactPointFields('webhook', {
      url: 'https://hooks.example.com/x?token=abc',
      secret: 'signing-secret-0123456789',
    });
    expect(fields).toEqual({
      address: 'https://hooks.example.com',
      config: {},
      secret: { url: 'https://hooks.example.com/x?token=abc', secret: 'signing-secret-0123456789' },
    });
    const hook = await createContactPoint(db.pool, reversing, {
      tenantId: 'acme',
      userId,
      kind: 'webhook',
      name: 'ops hook',
      ...fields,
    });
    const email = await createContactPoint(db.pool, reversing, {
      tenantId: 'acme',
      userId,
      kind: 'email',
      ...contactPointFields('email', { to: 'ana@example.com' }),
    });
    expect(hook).toMatchObject({
      kind: 'webhook',
      hasSecret: true,
      address: 'https://hooks.example.com',
    });
    expect(email).toMatchObject({ hasSecret: false, config: { to: 'ana@example.com' } });
    const raw = await db.pool.query('SELECT secret FROM contact_points WHERE id = $1', [hook.id]);
    expect(raw.rows[0].secret).toMatch(/^rev:/);
    expect(raw.rows[0].secret).not.toContain('signing-secret');

    const [opened] = await getContactPointsWithSecrets(db.pool, reversing, 'acme', [hook.id]);
    expect(targetOfContactPoint(opened!)).toEqual({
      url: 'https://hooks.example.com/x?token=abc',
      secret: 'signing-secret-0123456789',
    });
    const mine = await getUsersContactPoints(db.pool, reversing, 'acme', [userId]);
    expect(mine.map((c) => c.kind)).toEqual(['webhook', 'email']);
    await updateContactPoint(db.pool, reversing, 'acme', email.id, {
      ...contactPointFields('email', { to: 'ana@example.org' }),
      enabled: false,
    });
    expect(
      (await getUsersContactPoints(db.pool, reversing, 'acme', [userId])).map((c) => c.kind),
    ).toEqual(['webhook']);
    expect(await listContactPoints(db.pool, 'acme', { kind: 'email' })).toEqual([
      expect.objectContaining({ address: 'ana@example.org', enabled: false }),
    ]);
    expect(() => contactPointFields('sms', { to: '12' })).toThrow(/^to:/);
  });

  it('works with the AES-GCM SecretBox of db/secrets (and reads older plaintext rows)', async () => {
    const box = withPlaintextFallback(new SecretBox(randomBytes(32)));
    const point = await createContactPoint(db.pool, box, {
      tenantId: 'acme',
      userId: null,
      kind: 'pagerduty',
      ...contactPointFields('pagerduty', { routingKey: 'R0UT1NGKEY0000000000000000000009' }),
    });
    const raw = await db.pool.query('SELECT secret, address FROM contact_points WHERE id = $1', [
      point.id,
    ]);
    expect(raw.rows[0].secret).toMatch(/^gito:enc:v1:/);
    expect(raw.rows[0].address).toBe('PagerDuty routing key …0009');
    const [opened] = await getContactPointsWithSecrets(db.pool, box, 'acme', [point.id]);
    expect(targetOfContactPoint(opened!)).toEqual({
      routingKey: 'R0UT1NGKEY0000000000000000000009',
    });
    expect(await box.open(await plaintextSealer.seal('old'))).toBe('old');
  });

  it('stores preferences, with defaults for users without a row', async () => {
    expect((await getPreferences(db.pool, 'acme', [userId])).get(userId)).toEqual(
      DEFAULT_PREFERENCES,
    );
    const prefs = {
      channelsBySeverity: { critical: ['sms', 'pagerduty'], info: [] },
      quietHours: { start: '22:00', end: '07:00' },
      timeZone: 'Europe/Berlin',
      criticalBypassesQuiet: true,
      mutedRuleIds: ['7', '9'],
      digest: true,
      digestIntervalMinutes: 30,
    };
    await putPreferences(db.pool, 'acme', userId, prefs);
    expect((await getPreferences(db.pool, 'acme', [userId])).get(userId)).toEqual(prefs);
    await expect(
      putPreferences(db.pool, 'acme', userId, { ...prefs, timeZone: 'Mars/Olympus' }),
    ).rejects.toThrow(PreferencesError);
    await expect(
      putPreferences(db.pool, 'acme', userId, {
        ...prefs,
        quietHours: { start: '25:00', end: '07:00' },
      }),
    ).rejects.toThrow(/^quietHours\.start/);
  });

  it('stores escalation policies and a default per severity', async () => {
    const levels = [
      {
        delayMs: 0,
        targets: [{ type: 'team', id: '1' }],
        repeat: { count: 2, intervalMs: 300000 },
      },
    ];
    const policy = await createEscalationPolicy(db.pool, 'acme', { name: 'On-call', levels });
    expect(policy).toMatchObject({ name: 'On-call', levels, version: 1 });
    const updated = await updateEscalationPolicy(db.pool, 'acme', policy.id, {
      name: 'On-call',
      levels: [],
    });
    expect(updated).toMatchObject({ version: 2, levels: [] });
    await setDefaultEscalationPolicy(db.pool, 'acme', 'critical', policy.id);
    expect((await defaultEscalationPolicy(db.pool, 'acme', 'critical'))?.id).toBe(policy.id);
    expect(await defaultEscalationPolicy(db.pool, 'acme', 'info')).toBeUndefined();
    await setDefaultEscalationPolicy(db.pool, 'acme', 'critical', null);
    expect(await defaultEscalationPolicy(db.pool, 'acme', 'critical')).toBeUndefined();
    expect((await getEscalationPolicy(db.pool, 'acme', policy.id))?.name).toBe('On-call');
  });

  it('stores template overrides after validating them', async () => {
    const saved = await saveTemplateOverride(db.pool, {
      tenantId: 'acme',
      channel: 'sms',
      event: 'firing',
      severity: 'critical',
      title: '',
      body: 'CRIT {{alert.rule.name}}',
    });
    await saveTemplateOverride(db.pool, { ...saved, body: 'CRITICAL {{alert.rule.name}}' });
    expect(await listTemplateOverrides(db.pool, 'acme')).toEqual([
      expect.objectContaining({ id: saved.id, body: 'CRITICAL {{alert.rule.name}}' }),
    ]);
    await expect(
      saveTemplateOverride(db.pool, { ...saved, body: '{{alert.rule.name' }),
    ).rejects.toThrow(/^body/);
    expect(await deleteTemplateOverride(db.pool, 'acme', saved.id)).toBe(true);
  });
});
