import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pagerdutyDedupKey } from '../../actors/notify/channels/pagerduty.ts';
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
  TENANT,
  testEpoch,
} from './escalation-harness.ts';

/**
 * Acknowledge and resolve stop an escalation: they come through the alert outbox and the relay
 * to the actor, which clears its reminder, cancels the alert's pending firing messages and tells
 * the channels that have a lifecycle (PagerDuty) or a resolve message (e-mail, Slack, webhook).
 */
const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000ST0P';

let h: EscalationHarness;
let teamId: string;
let pagerdutyCp: string;
let webhookCp: string;
const emails = ['ana@example.com', 'ben@example.com', 'cara@example.com'];

beforeAll(async () => {
  h = await EscalationHarness.start();
  const ana = await addUser(h.pool, emails[0]!, { phone: '+15550200001' });
  const ben = await addUser(h.pool, emails[1]!, { phone: '+15550200002' });
  const cara = await addUser(h.pool, emails[2]!);
  teamId = await addTeam(h.pool, 'on-call', [
    { userId: ana.id, role: 'lead' },
    { userId: ben.id },
    { userId: cara.id },
  ]);
  pagerdutyCp = await addContactPoint(h.pool, null, 'pagerduty', { routingKey: ROUTING_KEY });
  webhookCp = await addContactPoint(h.pool, null, 'webhook', {
    url: h.fakes.webhook.url,
    secret: h.fakes.webhook.secret,
  });
  // E-mail the team and page at once, again in 5 minutes; SMS the lead after 10.
  await addPolicy(
    h.pool,
    'page and mail',
    [
      {
        delay: '0m',
        repeat: 2,
        interval: '5m',
        targets: [
          { type: 'team', id: teamId, channels: ['email'] },
          { type: 'contact_point', id: pagerdutyCp },
        ],
      },
      { delay: '10m', targets: [{ type: 'team', id: teamId, members: 'lead', channels: ['sms'] }] },
    ],
    ['critical'],
  );
  // Everything at once: e-mail, SMS for the lead, a webhook and PagerDuty.
  await addPolicy(
    h.pool,
    'everything now',
    [
      {
        delay: '0m',
        targets: [
          { type: 'team', id: teamId, channels: ['email'] },
          { type: 'team', id: teamId, members: 'lead', channels: ['sms'] },
          { type: 'contact_point', id: pagerdutyCp },
          { type: 'contact_point', id: webhookCp },
        ],
      },
      { delay: '30m', targets: [{ type: 'team', id: teamId, channels: ['email'] }] },
    ],
    ['major'],
  );
});
afterEach(() => h.end());
afterAll(() => h?.close());

const firing = () => emails.map((to) => `${to} firing`);
const resolved = () => emails.map((to) => `${to} resolved`);

describe('escalation: acknowledge and resolve', () => {
  it('stops on acknowledge, acknowledges the PagerDuty incident, then resolves it', async () => {
    const ruleId = await addRule(h.pool, 'Freezer too warm');
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp, twilio, pagerduty } = h.fakes;
    const alert = await node.open(ruleId, 'critical');
    await node.flush();
    await node.advanceTo(t0 + 5 * MINUTE);
    expect(mailLog(smtp).sort()).toEqual([...firing(), ...firing()].sort());
    const dedupKey = pagerdutyDedupKey(TENANT, alert.id);
    expect(pagerduty.events.map((e) => [e.action, e.dedupKey])).toEqual([
      ['trigger', dedupKey],
      ['trigger', dedupKey],
    ]);
    expect(pagerduty.incidentsOpened).toBe(1);

    node.clock.set(t0 + 7 * MINUTE);
    await node.acknowledge(alert.id);
    await node.flush();
    expect(pagerduty.events.at(-1)).toMatchObject({ action: 'acknowledge', dedupKey });
    expect(pagerduty.incidents.get(dedupKey)?.status).toBe('acknowledged');
    expect(smtp.mails).toHaveLength(6);
    expect(await node.inspect(alert.id)).toMatchObject({
      phase: 'stopped',
      stopReason: 'acknowledged',
    });
    expect(await node.reminderAt(alert.id)).toBeUndefined();

    // No third round at 10 minutes, no SMS to the lead.
    await node.advanceTo(t0 + HOUR);
    expect(smtp.mails).toHaveLength(6);
    expect(twilio.messages).toEqual([]);
    expect(pagerduty.events).toHaveLength(3);

    await node.resolve(alert.id);
    await node.flush();
    expect(mailLog(smtp).slice(6).sort()).toEqual(resolved());
    expect(pagerduty.events.at(-1)).toMatchObject({ action: 'resolve', dedupKey });
    expect(pagerduty.incidents.get(dedupKey)?.status).toBe('resolved');
    expect(pagerduty.strays).toEqual([]);
    expect(twilio.messages).toEqual([]);
    expect(await node.inspect(alert.id)).toMatchObject({ stopReason: 'resolved' });
    expect(node.deadLetters.list()).toEqual([]);
  });

  it('cancels firing messages not yet sent and tells no one who never heard', async () => {
    const ruleId = await addRule(h.pool, 'Door open');
    const node = await h.begin(testEpoch());
    const alert = await node.open(ruleId, 'critical');
    // Planned (3 e-mails and a page) but acknowledged before the dispatcher got to them.
    expect((await node.deliveries(alert.id)).map((d) => d.status)).toEqual([
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    await node.acknowledge(alert.id);
    await node.flush();
    const rows = await node.deliveries(alert.id);
    expect(rows.filter((r) => r.event === 'firing').map((r) => r.status)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect(h.fakes.smtp.mails).toEqual([]);
    // PagerDuty never had the incident: no acknowledge (and no resolve) for it.
    expect(h.fakes.pagerduty.events).toEqual([]);
    await node.resolve(alert.id);
    await node.flush();
    expect(h.fakes.pagerduty.events).toEqual([]);
    expect(h.fakes.smtp.mails).toEqual([]);
  });

  it('resolves while escalating: resolve messages where the channel has them, not SMS', async () => {
    const ruleId = await addRule(h.pool, 'Compressor fault');
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp, twilio, pagerduty, webhook } = h.fakes;
    const alert = await node.open(ruleId, 'major');
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(firing());
    expect(twilio.messages.map((m) => m.to)).toEqual(['+15550200001']);
    expect(webhook.received.map((r) => r.body.event)).toEqual(['firing']);
    expect(pagerduty.events.map((e) => e.action)).toEqual(['trigger']);

    node.clock.set(t0 + 10 * MINUTE);
    await node.resolve(alert.id);
    await node.flush();
    expect(mailLog(smtp).slice(3).sort()).toEqual(resolved());
    expect(webhook.received.map((r) => r.body.event)).toEqual(['firing', 'resolved']);
    expect(webhook.duplicates).toEqual([]);
    expect(pagerduty.events.map((e) => e.action)).toEqual(['trigger', 'resolve']);
    expect(twilio.messages).toHaveLength(1);
    expect(await node.reminderAt(alert.id)).toBeUndefined();

    // The 30-minute level never comes.
    await node.advanceTo(t0 + HOUR);
    expect(smtp.mails).toHaveLength(6);
    // Acknowledging a resolved alert is refused; escalation stays as it is.
    await expect(node.alerts.acknowledge(TENANT, alert.id, 'ben', node.now)).rejects.toThrow(
      /resolved/,
    );
    expect(await node.inspect(alert.id)).toMatchObject({
      phase: 'stopped',
      stopReason: 'resolved',
    });
  });
});
