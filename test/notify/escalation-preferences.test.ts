import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addPolicy,
  addRule,
  addTeam,
  addUser,
  EscalationHarness,
  HOUR,
  MINUTE,
  mailLog,
  setPreferences,
  testEpoch,
} from './escalation-harness.ts';

/**
 * Per-user preferences as escalation applies them: quiet hours hold a message until they end
 * (critical ones go through for users who allow it), muted rules reach no one who muted them,
 * and channels per severity pick the contact points.
 *
 * testEpoch() is 02:00 in Berlin; quiet hours 22:00-07:00 Berlin end at 06:00 UTC, 5 h later.
 */
const QUIET_ENDS = 5 * HOUR;

let h: EscalationHarness;
let owl: { id: string; email: string };
let sleeper: { id: string; email: string };
let day: { id: string; email: string };
let mia: { id: string; email: string };
let sam: { id: string; email: string };

beforeAll(async () => {
  h = await EscalationHarness.start();
  owl = await addUser(h.pool, 'owl@example.com');
  sleeper = await addUser(h.pool, 'sleeper@example.com');
  day = await addUser(h.pool, 'day@example.com');
  mia = await addUser(h.pool, 'mia@example.com');
  sam = await addUser(h.pool, 'sam@example.com', { phone: '+15550300005' });
  const quiet = { start: '22:00', end: '07:00' };
  await setPreferences(h.pool, owl.id, {
    quietHours: quiet,
    timeZone: 'Europe/Berlin',
    criticalBypassesQuiet: true,
  });
  await setPreferences(h.pool, sleeper.id, {
    quietHours: quiet,
    timeZone: 'Europe/Berlin',
    criticalBypassesQuiet: false,
  });
  await addPolicy(
    h.pool,
    'three people',
    [
      {
        delay: '0m',
        targets: [owl, sleeper, day].map((u) => ({ type: 'user', id: u.id, channels: ['email'] })),
      },
    ],
    ['major', 'critical'],
  );
  const team = await addTeam(h.pool, 'cold chain', [
    { userId: day.id },
    { userId: mia.id },
    { userId: sam.id },
  ]);
  await addPolicy(
    h.pool,
    'cold chain team',
    [{ delay: '0m', targets: [{ type: 'team', id: team }] }],
    ['minor', 'warning'],
  );
});
afterEach(() => h.end());
afterAll(() => h?.close());

describe('escalation: recipients and their preferences', () => {
  it('holds messages until quiet hours end, critical ones only for those who allow it', async () => {
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp } = h.fakes;
    const critical = await node.open(await addRule(h.pool, 'Freezer failed'), 'critical');
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(['day@example.com firing', 'owl@example.com firing']);
    const major = await node.open(await addRule(h.pool, 'Humidity high'), 'major');
    await node.flush();
    expect(mailLog(smtp).slice(2)).toEqual(['day@example.com firing']);
    // Held messages wait in the escalation actor for the end of the quiet hours, not in the
    // recipients' delivery queues (where they would hold back later, more urgent messages).
    expect((await node.deliveries(major.id)).map((d) => d.recipient)).toEqual([
      'email:day@example.com',
    ]);
    const state = await node.inspect(major.id);
    expect(state.held.map((x) => x.at)).toEqual([t0 + QUIET_ENDS, t0 + QUIET_ENDS]);
    expect(await node.reminderAt(major.id)).toBe(t0 + QUIET_ENDS);

    await node.advanceTo(t0 + QUIET_ENDS - MINUTE);
    expect(smtp.mails).toHaveLength(3);

    await node.advanceTo(t0 + QUIET_ENDS);
    expect(mailLog(smtp).slice(3).sort()).toEqual([
      'owl@example.com firing',
      'sleeper@example.com firing',
      'sleeper@example.com firing',
    ]);
    // In the order they were planned.
    const sleeperSubjects = smtp.mails
      .filter((m) => m.to[0] === sleeper.email)
      .map((m) => m.subject);
    expect(sleeperSubjects[0]).toContain('Freezer failed');
    expect(sleeperSubjects[1]).toContain('Humidity high');
    const all = [...(await node.deliveries(major.id)), ...(await node.deliveries(critical.id))];
    expect(all.map((d) => d.status)).toEqual(Array(6).fill('delivered'));
  });

  // A message held for quiet hours waits in the escalation actor, not in the recipient's
  // delivery queue, so it cannot hold back a critical one that bypasses quiet hours.
  it('pages a user at once about a critical alert while a minor one is held', async () => {
    const t0 = testEpoch();
    const node = await h.begin(t0);
    await node.open(await addRule(h.pool, 'Light left on'), 'major');
    await node.open(await addRule(h.pool, 'Freezer broken'), 'critical');
    await node.flush();
    expect(mailLog(h.fakes.smtp).sort()).toEqual([
      'day@example.com firing',
      'day@example.com firing',
      'owl@example.com firing',
    ]);
  });

  it('cancels a held message when the alert is acknowledged during the quiet hours', async () => {
    const t0 = testEpoch();
    const node = await h.begin(t0);
    const { smtp } = h.fakes;
    const alert = await node.open(await addRule(h.pool, 'Door ajar'), 'major');
    await node.flush();
    expect(mailLog(smtp)).toEqual(['day@example.com firing']);
    node.clock.set(t0 + HOUR);
    await node.acknowledge(alert.id, day.email);
    await node.advanceTo(t0 + QUIET_ENDS + HOUR);
    expect(smtp.mails).toHaveLength(1);
    // The resolve message goes to the one who got the alert, not to those who never did.
    await node.resolve(alert.id);
    await node.flush();
    expect(mailLog(smtp)).toEqual(['day@example.com firing', 'day@example.com resolved']);
  });

  it('reaches no one about a rule they muted, and everyone else as usual', async () => {
    const muted = await addRule(h.pool, 'Defrost cycle');
    const other = await addRule(h.pool, 'Power loss');
    await setPreferences(h.pool, mia.id, { mutedRuleIds: [muted] });
    const node = await h.begin(testEpoch());
    const { smtp, twilio } = h.fakes;
    await node.open(muted, 'minor');
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(['day@example.com firing', 'sam@example.com firing']);
    expect(twilio.messages.map((m) => m.to)).toEqual(['+15550300005']);
    await node.open(other, 'minor');
    await node.flush();
    expect(mailLog(smtp).slice(2).sort()).toEqual([
      'day@example.com firing',
      'mia@example.com firing',
      'sam@example.com firing',
    ]);
  });

  it('uses the channels a user chose for the severity', async () => {
    await setPreferences(h.pool, sam.id, { channelsBySeverity: { warning: ['sms'] } });
    const node = await h.begin(testEpoch());
    const { smtp, twilio } = h.fakes;
    await node.open(await addRule(h.pool, 'Battery low'), 'warning');
    await node.flush();
    expect(mailLog(smtp).sort()).toEqual(['day@example.com firing', 'mia@example.com firing']);
    expect(twilio.messages.map((m) => m.to)).toEqual(['+15550300005']);
    await node.open(await addRule(h.pool, 'Signal weak'), 'minor');
    await node.flush();
    expect(mailLog(smtp).slice(2).sort()).toEqual([
      'day@example.com firing',
      'mia@example.com firing',
      'sam@example.com firing',
    ]);
  });
});
