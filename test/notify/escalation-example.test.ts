import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pagerdutyDedupKey } from '../../actors/notify/channels/pagerduty.ts';
import {
  addContactPoint,
  addPolicy,
  addRule,
  addTeam,
  addUser,
  EscalationHarness,
  type EscalationNode,
  MINUTE,
  mailLog,
  SECOND,
  TENANT,
  testEpoch,
  waitFor,
} from './escalation-harness.ts';

/**
 * The example policy end to end on a test clock: "email the on-call team now, repeat
 * every 5 minutes; if unacknowledged after 2 emails, SMS the team lead; after 20 minutes,
 * trigger PagerDuty".
 */
const ROUTING_KEY = 'R0UT1NGKEY00000000000000000000EX';

let h: EscalationHarness;
let teamId: string;
let pagerdutyCp: string;
let ana: { id: string; email: string };
let ben: { id: string; email: string };
let cara: { id: string; email: string };

beforeAll(async () => {
  h = await EscalationHarness.start();
  ana = await addUser(h.pool, 'ana@example.com', { phone: '+15550100001' });
  ben = await addUser(h.pool, 'ben@example.com', { phone: '+15550100002' });
  cara = await addUser(h.pool, 'cara@example.com');
  // Not on the team: hears nothing.
  await addUser(h.pool, 'dave@example.com', { phone: '+15550100004' });
  teamId = await addTeam(h.pool, 'on-call', [
    { userId: ana.id, role: 'lead' },
    { userId: ben.id },
    { userId: cara.id },
  ]);
  pagerdutyCp = await addContactPoint(h.pool, null, 'pagerduty', { routingKey: ROUTING_KEY });
});
afterEach(() => h.end());
afterAll(() => h?.close());

function examplePolicy(repeat: number) {
  return [
    {
      delay: '0m',
      repeat,
      interval: '5m',
      targets: [{ type: 'team', id: teamId, channels: ['email'] }],
    },
    { delay: '10m', targets: [{ type: 'team', id: teamId, members: 'lead', channels: ['sms'] }] },
    { delay: '20m', targets: [{ type: 'contact_point', id: pagerdutyCp }] },
  ];
}

const team = () => [ana.email, ben.email, cara.email].map((to) => `${to} firing`);

describe('escalation: the example policy end to end', () => {
  it('emails the team every 5 minutes, SMSes the lead after two rounds, then pages', async () => {
    await addPolicy(h.pool, 'example (critical default)', examplePolicy(3), ['critical']);
    const ruleId = await addRule(h.pool, 'Freezer too warm');
    const t0 = testEpoch();
    const node: EscalationNode = await h.begin(t0);
    const { smtp, twilio, pagerduty } = h.fakes;

    const alert = await node.open(ruleId, 'critical');
    await node.flush();
    // Step 0: the team by e-mail, nothing else.
    expect(mailLog(smtp).sort()).toEqual(team());
    expect(twilio.messages).toEqual([]);
    expect(pagerduty.events).toEqual([]);
    expect(await node.reminderAt(alert.id)).toBe(t0 + 5 * MINUTE);

    // Just before the next step: nothing more.
    await node.advanceTo(t0 + 5 * MINUTE - SECOND);
    expect(smtp.mails).toHaveLength(3);

    await node.advanceTo(t0 + 5 * MINUTE);
    expect(mailLog(smtp).slice(3).sort()).toEqual(team());
    expect(twilio.messages).toEqual([]);

    // Two e-mails unanswered: the third round and the SMS to the lead (only the lead).
    await node.advanceTo(t0 + 10 * MINUTE);
    expect(mailLog(smtp).slice(6).sort()).toEqual(team());
    expect(twilio.messages.map((m) => m.to)).toEqual(['+15550100001']);
    expect(twilio.messages[0]!.body).toContain('Freezer too warm');
    expect(pagerduty.events).toEqual([]);

    await node.advanceTo(t0 + 15 * MINUTE);
    expect(smtp.mails).toHaveLength(12);
    expect(pagerduty.events).toEqual([]);

    await node.advanceTo(t0 + 20 * MINUTE);
    expect(pagerduty.events.map((e) => [e.action, e.dedupKey, e.routingKey])).toEqual([
      ['trigger', pagerdutyDedupKey(TENANT, alert.id), ROUTING_KEY],
    ]);
    const payload = pagerduty.events[0]!.body.payload as Record<string, unknown>;
    expect(payload.severity).toBe('critical');
    expect(String(payload.summary)).toContain('Freezer too warm');
    expect(await node.reminderAt(alert.id)).toBeUndefined();

    // The plan is done: hours later nothing more, and nothing was sent twice.
    await node.advanceTo(t0 + 3 * 60 * MINUTE);
    expect(smtp.mails).toHaveLength(12);
    expect(twilio.messages).toHaveLength(1);
    expect(pagerduty.events).toHaveLength(1);
    expect(pagerduty.incidentsOpened).toBe(1);
    expect(new Set(smtp.mails.map((m) => m.idempotencyKey)).size).toBe(12);
    const deliveries = await node.deliveries(alert.id);
    expect(deliveries).toHaveLength(14);
    expect(deliveries.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
    const state = await node.inspect(alert.id);
    expect(state).toMatchObject({ phase: 'running', cursor: 6 });
    expect(node.deadLetters.list()).toEqual([]);
  });

  it('catches up on steps that fell due while no node ran them, each once', async () => {
    await addPolicy(h.pool, 'example (major default)', examplePolicy(1), ['major']);
    const ruleId = await addRule(h.pool, 'Door open');
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const alert = await node.open(ruleId, 'major');
    await node.flush();
    expect(h.fakes.smtp.mails).toHaveLength(3);
    // One jump over three steps (5 m e-mail, 10 m SMS, 20 m PagerDuty).
    await node.advanceTo(t0 + 25 * MINUTE);
    expect(h.fakes.smtp.mails).toHaveLength(6);
    expect(h.fakes.twilio.messages).toHaveLength(1);
    expect(h.fakes.pagerduty.events.map((e) => e.action)).toEqual(['trigger']);
    expect((await node.inspect(alert.id)).cursor).toBe(4);
  });

  it("uses the policy the rule names instead of the tenant's default", async () => {
    await addPolicy(
      h.pool,
      'default for warnings',
      [{ delay: '0m', targets: [{ type: 'team', id: teamId }] }],
      ['warning'],
    );
    const slackCp = await addContactPoint(h.pool, null, 'slack', {
      webhookUrl: h.fakes.slack.webhookUrl,
    });
    const named = await addPolicy(h.pool, 'slack only', [
      { delay: '0m', targets: [{ type: 'contact_point', id: slackCp }] },
    ]);
    const ruleId = await addRule(h.pool, 'Battery low', { escalationPolicy: named });
    const node = await h.begin(testEpoch());
    const alert = await node.open(ruleId, 'warning');
    await node.flush();
    expect(h.fakes.slack.posts).toHaveLength(1);
    expect(h.fakes.slack.posts[0]!.text).toContain('Battery low');
    expect(h.fakes.smtp.mails).toEqual([]);
    expect((await node.inspect(alert.id)).policyId).toBe(named);
  });

  it('finds a policy the rule names by name', async () => {
    const hook = await addContactPoint(h.pool, null, 'webhook', {
      url: h.fakes.webhook.url,
      secret: h.fakes.webhook.secret,
    });
    const named = await addPolicy(h.pool, 'Ops-Webhook', [
      { delay: '0m', targets: [{ type: 'contact_point', id: hook }] },
    ]);
    const ruleId = await addRule(h.pool, 'Compressor fault', { escalationPolicy: 'ops-webhook' });
    const node = await h.begin(testEpoch());
    const alert = await node.open(ruleId, 'info');
    await node.flush();
    expect(h.fakes.webhook.received).toHaveLength(1);
    expect((await node.inspect(alert.id)).policyId).toBe(named);
    expect(node.deadLetters.list()).toEqual([]);
  });

  it('starts escalation after a database failure while starting, not skipping the event', async () => {
    await addPolicy(
      h.pool,
      'team for majors',
      [{ delay: '0m', targets: [{ type: 'team', id: teamId, channels: ['email'] }] }],
      ['major'],
    );
    const ruleId = await addRule(h.pool, 'Evaporator iced');
    const node = await h.begin(testEpoch(), { relayLeaseMs: 500 });
    // Every attempt to load the policy fails until the table is back.
    await h.pool.query('ALTER TABLE escalation_policies RENAME TO escalation_policies_away');
    try {
      await node.alerts.open({
        tenantId: TENANT,
        ruleId,
        ruleVersion: 1,
        deviceKey: 'freezer-3',
        severity: 'major',
        at: node.now,
        values: {},
        suppressed: null,
        flapping: false,
        repeat: false,
      });
      await waitFor(async () => node.relay.failed > 0, 'a failed hand-over');
    } finally {
      await h.pool.query('ALTER TABLE escalation_policies_away RENAME TO escalation_policies');
    }
    await node.relayed();
    await node.flush();
    expect(mailLog(h.fakes.smtp).sort()).toEqual(team());
  });

  it('escalates to no one, and says why, when no policy applies', async () => {
    const ruleId = await addRule(h.pool, 'No policy here');
    const node = await h.begin(testEpoch());
    const alert = await node.open(ruleId, 'minor');
    await node.flush();
    expect(await node.inspect(alert.id)).toMatchObject({
      phase: 'stopped',
      stopReason: 'no escalation policy applies',
    });
    expect(await node.deliveries(alert.id)).toEqual([]);
  });
});
