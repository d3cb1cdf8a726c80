import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addContactPoint,
  addPolicy,
  addRule,
  addTeam,
  addUser,
  EscalationHarness,
  HOUR,
  MINUTE,
  mailLog,
  testEpoch,
} from './escalation-harness.ts';

/**
 * Suppressed alerts (maintenance, inhibition, flapping) do not escalate. An alert opened under
 * suppression waits; when the suppression ends the policy starts from then. An alert suppressed
 * while escalating stops (its pending messages cancelled) and starts over when released.
 */
let h: EscalationHarness;
let webhookCp: string;
const team = ['ana@example.com', 'ben@example.com'];
const firing = () => team.map((to) => `${to} firing`);

beforeAll(async () => {
  h = await EscalationHarness.start();
  const ana = await addUser(h.pool, team[0]!);
  const ben = await addUser(h.pool, team[1]!);
  const teamId = await addTeam(h.pool, 'on-call', [
    { userId: ana.id, role: 'lead' },
    { userId: ben.id },
  ]);
  webhookCp = await addContactPoint(h.pool, null, 'webhook', {
    url: h.fakes.webhook.url,
    secret: h.fakes.webhook.secret,
  });
  await addPolicy(
    h.pool,
    'mail twice, then the webhook',
    [
      {
        delay: '0m',
        repeat: 1,
        interval: '5m',
        targets: [{ type: 'team', id: teamId, channels: ['email'] }],
      },
      { delay: '10m', targets: [{ type: 'contact_point', id: webhookCp }] },
    ],
    ['critical'],
  );
});
afterEach(() => h.end());
afterAll(() => h?.close());

describe('escalation: suppressed alerts', () => {
  it('does not escalate under maintenance, and starts the policy when it ends', async () => {
    const ruleId = await addRule(h.pool, 'Freezer too warm');
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp, webhook } = h.fakes;
    const alert = await node.open(ruleId, 'critical', { suppressed: 'maintenance' });
    await node.flush();
    expect(await node.inspect(alert.id)).toMatchObject({ phase: 'waiting', startedAt: null });
    expect(await node.reminderAt(alert.id)).toBeUndefined();
    await node.advanceTo(t0 + 30 * MINUTE);
    expect(smtp.mails).toEqual([]);
    expect(await node.deliveries(alert.id)).toEqual([]);

    // The window ends at 30 minutes: the plan runs from there (mails at 30 and 35, hook at 40).
    const released = await node.open(ruleId, 'critical', { suppressed: null });
    expect(released.id).toBe(alert.id);
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(firing());
    expect(await node.reminderAt(alert.id)).toBe(t0 + 35 * MINUTE);
    await node.advanceTo(t0 + 35 * MINUTE);
    expect(smtp.mails).toHaveLength(4);
    expect(webhook.received).toEqual([]);
    await node.advanceTo(t0 + 40 * MINUTE);
    expect(webhook.received.map((r) => r.body.event)).toEqual(['firing']);
    await node.advanceTo(t0 + HOUR);
    expect(smtp.mails).toHaveLength(4);
    expect(webhook.received).toHaveLength(1);
  });

  it('stops when suppressed while escalating and starts over when released', async () => {
    const ruleId = await addRule(h.pool, 'Door open');
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp, webhook } = h.fakes;
    const alert = await node.open(ruleId, 'critical');
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(firing());

    node.clock.set(t0 + 2 * MINUTE);
    await node.open(ruleId, 'critical', { suppressed: 'inhibited' });
    expect(await node.inspect(alert.id)).toMatchObject({ phase: 'waiting' });
    expect(await node.reminderAt(alert.id)).toBeUndefined();
    await node.advanceTo(t0 + 20 * MINUTE);
    expect(smtp.mails).toHaveLength(2);
    expect(webhook.received).toEqual([]);

    // Released at 20 minutes: the team hears again now, at 25, and the webhook at 30.
    await node.open(ruleId, 'critical', { suppressed: null });
    await node.flush();
    expect(mailLog(smtp).slice(2).sort()).toEqual(firing());
    await node.advanceTo(t0 + 25 * MINUTE);
    expect(mailLog(smtp).slice(4).sort()).toEqual(firing());
    await node.advanceTo(t0 + 30 * MINUTE);
    expect(webhook.received).toHaveLength(1);
    await node.advanceTo(t0 + HOUR);
    expect(smtp.mails).toHaveLength(6);
    expect(new Set(smtp.mails.map((m) => m.idempotencyKey)).size).toBe(6);
  });

  it('cancels what a suppression catches still waiting to be sent', async () => {
    const ruleId = await addRule(h.pool, 'Compressor fault');
    const node = await h.begin(testEpoch());
    const alert = await node.open(ruleId, 'critical');
    // Planned, not yet sent, when the alert starts flapping.
    await node.open(ruleId, 'critical', { suppressed: 'flapping' });
    await node.flush();
    expect(h.fakes.smtp.mails).toEqual([]);
    expect((await node.deliveries(alert.id)).map((d) => d.status)).toEqual([
      'cancelled',
      'cancelled',
    ]);
  });
});
