/**
 * Escalation scenarios on one node: a real database, the real escalation actor, outbox relay,
 * reminder service and delivery dispatcher, every channel pointed at its local fake, and a test
 * clock that drives the escalation plan, the delivery outbox and the dispatcher.
 *
 * Time: the actor, outbox and dispatcher take `now` (the test clock). The runtime's reminder
 * service runs on real time (Date.now and timers), so the node's reminder store is wrapped in a
 * TestTimeReminderStore that keeps test-clock times in the `reminders` table and hands the
 * service those that are due on the test clock as due now. The test clock must run ahead of the
 * real one (testEpoch() is two years ahead), or the service would arm every reminder at once.
 *
 *   const h = await EscalationHarness.start();       // beforeAll (database, fakes)
 *   const node = await h.begin(testEpoch());           // beforeEach (fresh node, empty outboxes)
 *   const alert = await node.open(ruleId, 'critical'); // relayed: step 0 planned
 *   await node.flush();                                // dispatched to the fakes
 *   await node.advanceTo(t);                           // due steps run, their deliveries sent
 *   await h.end(); await h.close();                    // afterEach / afterAll
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { notifyConfigFromEnv } from '../../actors/notify/config.ts';
import { contactPointFields } from '../../actors/notify/contact-points.ts';
import {
  createEscalationActor,
  type EscalationState,
} from '../../actors/notify/escalation/escalation-actor.ts';
import { escalationActorId } from '../../actors/notify/escalation/ids.ts';
import { OutboxRelay } from '../../actors/notify/escalation/relay.ts';
import {
  createNotificationService,
  type NotificationService,
} from '../../actors/notify/service.ts';
import {
  type Alert,
  type AlertSeverity,
  AlertStore,
  type SuppressionReason,
} from '../../db/alerts/alert-store.ts';
import { AlertOutbox } from '../../db/alerts/outbox.ts';
import { DefinitionRepo } from '../../db/alerts/rule-repo.ts';
import { createTenant } from '../../db/devices/registry.ts';
import { PostgresReminderStore, PostgresStateStore } from '../../db/index.ts';
import { type ContactPointKind, createContactPoint } from '../../db/notify/contact-points.ts';
import { type DeliveryView, listDeliveries } from '../../db/notify/deliveries.ts';
import {
  createEscalationPolicy,
  setDefaultEscalationPolicy,
} from '../../db/notify/escalation-policies.ts';
import {
  DEFAULT_PREFERENCES,
  type NotificationPreferences,
  putPreferences,
} from '../../db/notify/preferences.ts';
import { plaintextSealer } from '../../db/notify/secrets.ts';
import {
  type ActorId,
  ActorSystem,
  MemoryDeadLetters,
  type Reminder,
  type ReminderStore,
  silentLogger,
} from '../../runtime/index.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { FakePagerDuty } from '../fakes/pagerduty.ts';
import { FakeSlack } from '../fakes/slack.ts';
import { FakeSmtp } from '../fakes/smtp.ts';
import { FakeTwilio } from '../fakes/twilio.ts';
import { FakeWebhookReceiver } from '../fakes/webhook-receiver.ts';

export const TENANT = 'acme';
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** 15 January two years from now, 01:00 UTC (02:00 in Berlin, winter time): ahead of real time. */
export function testEpoch(): number {
  return Date.UTC(new Date().getUTCFullYear() + 2, 0, 15, 1, 0, 0);
}

export class TestClock {
  constructor(private t: number) {}
  readonly now = (): number => this.t;
  set(t: number): void {
    this.t = t;
  }
}

/**
 * The reminder store of a node whose actors plan on a test clock (see the top of this file).
 * Reminders are stored with test-clock times; `due` answers with those due on the test clock,
 * their dueAt moved to real time so that the service fires them now, and `complete` maps the
 * firing back to the stored time (so a reminder replaced during the turn is kept).
 */
export class TestTimeReminderStore implements ReminderStore {
  private readonly fired = new Map<string, number>();

  constructor(
    private readonly inner: ReminderStore,
    private readonly clock: TestClock,
  ) {}

  upsert(reminder: Reminder) {
    return this.inner.upsert(reminder);
  }

  remove(actor: ActorId, name: string) {
    return this.inner.remove(actor, name);
  }

  async due(_until: number, limit: number): Promise<readonly Reminder[]> {
    const now = this.clock.now();
    const real = Date.now();
    if (now <= real + MINUTE) throw new Error('the test clock must run ahead of real time');
    const due = await this.inner.due(now, limit);
    return due.map((r) => {
      const at = real - (now - r.dueAt);
      this.fired.set(`${r.actor}\u0000${r.name}\u0000${at}`, r.dueAt);
      return { ...r, dueAt: at };
    });
  }

  async complete(actor: ActorId, name: string, firedDueAt: number, next: number | undefined) {
    const key = `${actor}\u0000${name}\u0000${firedDueAt}`;
    const stored = this.fired.get(key);
    this.fired.delete(key);
    if (stored === undefined) return;
    await this.inner.complete(
      actor,
      name,
      stored,
      next === undefined ? undefined : stored + (next - firedDueAt),
    );
  }

  list(actor: ActorId) {
    return this.inner.list(actor);
  }
}

export interface Fakes {
  readonly smtp: FakeSmtp;
  readonly twilio: FakeTwilio;
  readonly pagerduty: FakePagerDuty;
  readonly webhook: FakeWebhookReceiver;
  readonly slack: FakeSlack;
}

/** Polls until `probe` returns something other than undefined/false. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The database, the tenant and the fakes of one test file. */
export class EscalationHarness {
  node: EscalationNode | undefined;

  private constructor(
    readonly db: MigratedTestDatabase,
    readonly fakes: Fakes,
    private readonly dir: string,
    readonly env: Readonly<Record<string, string>>,
  ) {}

  get pool() {
    return this.db.pool;
  }

  static async start(): Promise<EscalationHarness> {
    const db = await createMigratedTestDatabase();
    await createTenant(db.pool, { id: TENANT });
    const fakes: Fakes = {
      smtp: await new FakeSmtp().start(),
      twilio: await new FakeTwilio().start(),
      pagerduty: await (await FakePagerDuty.create()).start(),
      webhook: await new FakeWebhookReceiver().start(),
      slack: await new FakeSlack().start(),
    };
    const dir = mkdtempSync(join(tmpdir(), 'gito-escalation-'));
    const caFile = join(dir, 'pagerduty-ca.pem');
    writeFileSync(caFile, fakes.pagerduty.ca);
    // The same variables a node reads (actors/notify/config.ts).
    const env = {
      GITO_SMTP_HOST: '127.0.0.1',
      GITO_SMTP_PORT: String(fakes.smtp.port),
      GITO_SMTP_TLS: 'none',
      GITO_SMTP_FROM: 'Gito <alerts@gito.test>',
      GITO_TWILIO_ACCOUNT_SID: fakes.twilio.accountSid,
      GITO_TWILIO_AUTH_TOKEN: fakes.twilio.authToken,
      GITO_TWILIO_FROM: '+15550009999',
      GITO_TWILIO_API_URL: fakes.twilio.origin,
      GITO_PAGERDUTY_SERVER: fakes.pagerduty.server,
      GITO_PAGERDUTY_CA_FILE: caFile,
      GITO_WEBHOOK_ALLOW: '127.0.0.1/32',
      GITO_NOTIFY_HTTP_TIMEOUT_MS: '3000',
      GITO_NOTIFY_LEASE_MS: '30000',
    };
    return new EscalationHarness(db, fakes, dir, env);
  }

  /** A fresh node at `t0` on emptied outboxes and reminders, with the fakes reset. */
  async begin(t0: number, options: NodeOptions = {}): Promise<EscalationNode> {
    await this.end();
    await this.pool.query(
      `TRUNCATE notification_deliveries, notification_attempts, alert_outbox, reminders,
         actor_state CASCADE`,
    );
    const { smtp, twilio, pagerduty, webhook, slack } = this.fakes;
    for (const fake of [twilio, pagerduty, webhook, slack]) fake.reset();
    smtp.mails.length = 0;
    smtp.behave({ mode: 'ok' });
    this.node = new EscalationNode(this, new TestClock(t0), options);
    return this.node;
  }

  async end(): Promise<void> {
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }

  async close(): Promise<void> {
    await this.end();
    await this.fakes.smtp.stop();
    await this.fakes.twilio.stop();
    await this.fakes.pagerduty.stop();
    await this.fakes.webhook.stop();
    await this.fakes.slack.stop();
    rmSync(this.dir, { recursive: true, force: true });
    await this.db.drop();
  }
}

export interface NodeOptions {
  /** The relay's claim lease: how soon an event whose hand-over failed is tried again. */
  readonly relayLeaseMs?: number;
}

/** One node: actor system, escalation actor kind, relay and dispatcher, on the test clock. */
export class EscalationNode {
  readonly system: ActorSystem;
  readonly service: NotificationService;
  readonly relay: OutboxRelay;
  readonly alerts: AlertStore;
  readonly deadLetters = new MemoryDeadLetters();

  constructor(
    private readonly h: EscalationHarness,
    readonly clock: TestClock,
    options: NodeOptions = {},
  ) {
    const pool = h.pool;
    const registry = new Registry();
    this.alerts = new AlertStore(pool);
    this.system = new ActorSystem({
      nodeId: 'n1',
      logger: silentLogger,
      registry,
      stateStore: new PostgresStateStore(pool),
      reminderStore: new TestTimeReminderStore(new PostgresReminderStore(pool), clock),
      deadLetters: this.deadLetters,
      reminderPollIntervalMs: 50,
    });
    // As app/notifications.ts wires it, with the test clock.
    this.service = createNotificationService({
      pool,
      config: notifyConfigFromEnv(h.env),
      sealer: plaintextSealer,
      nodeId: 'n1',
      registry,
      now: clock.now,
      onFailed: async (delivery, client) => {
        if (delivery.alertId === null) return;
        await this.alerts.noteWith(
          client,
          delivery.alertId,
          'delivery_failed',
          'system',
          clock.now(),
          {
            delivery: delivery.id,
            channel: delivery.channel,
            reason: delivery.reason,
          },
        );
      },
    });
    this.system.register(
      createEscalationActor({
        pool,
        outbox: this.service.outbox,
        sealer: plaintextSealer,
        wakeDispatcher: () => this.service.dispatcher.wake(),
        publicUrl: 'https://gito.test',
        now: clock.now,
      }),
    );
    this.relay = new OutboxRelay({
      outbox: new AlertOutbox(pool),
      actors: this.system,
      logger: silentLogger,
      idleMs: 20,
      ...(options.relayLeaseMs === undefined ? {} : { leaseMs: options.relayLeaseMs }),
    });
    // The dispatcher is driven by flush() (runOnce), so what is sent when is up to the test.
    this.relay.start();
  }

  get now(): number {
    return this.clock.now();
  }

  /** Opens (or updates) the alert of (rule, device) now and waits until escalation took it. */
  async open(
    ruleId: string,
    severity: AlertSeverity,
    options: { device?: string; suppressed?: SuppressionReason | null } = {},
  ): Promise<Alert> {
    const change = await this.alerts.open({
      tenantId: TENANT,
      ruleId,
      ruleVersion: 1,
      deviceKey: options.device ?? 'freezer-3',
      severity,
      at: this.now,
      values: { temp: 31.5 },
      suppressed: options.suppressed ?? null,
      flapping: false,
      repeat: false,
    });
    await this.relayed();
    return change.alert;
  }

  async acknowledge(alertId: string, by = 'ana@example.com'): Promise<void> {
    await this.alerts.acknowledge(TENANT, alertId, by, this.now);
    await this.relayed();
  }

  async resolve(alertId: string): Promise<void> {
    await this.alerts.resolve(TENANT, alertId, 'ana@example.com', this.now);
    await this.relayed();
  }

  /** Every alert event written so far was handed to (and answered by) its escalation actor. */
  async relayed(): Promise<void> {
    const outbox = new AlertOutbox(this.h.pool);
    await waitFor(async () => (await outbox.pending()) === 0, 'alert outbox drained');
  }

  /** Sends what is due on the test clock (retries included) until nothing more is due. */
  async flush(): Promise<void> {
    for (let pass = 0; pass < 100; pass++) {
      const summary = await this.service.dispatcher.runOnce();
      if (summary.claimed === 0 && summary.reclaimed === 0) return;
    }
    throw new Error('dispatcher still busy after 100 passes');
  }

  /**
   * Moves the test clock to `t`, lets every reminder due by then fire (the real reminder path:
   * store, service, actor turn) and sends what the steps planned.
   */
  async advanceTo(t: number): Promise<void> {
    this.clock.set(t);
    await this.relayed();
    await this.system.pollReminders();
    await waitFor(
      async () => {
        const { rows } = await this.h.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM reminders
          WHERE due_at <= timestamptz 'epoch' + $1::bigint * interval '1 millisecond'`,
          [t],
        );
        return rows[0]?.n === 0;
      },
      `reminders due by ${new Date(t).toISOString()} fired`,
    );
    await this.flush();
  }

  async inspect(alertId: string): Promise<EscalationState> {
    return this.system.ask<EscalationState>(escalationActorId(TENANT, alertId), {
      type: 'inspect',
    });
  }

  /** The alert's deliveries, oldest first. */
  async deliveries(alertId: string): Promise<DeliveryView[]> {
    return (await listDeliveries(this.h.pool, TENANT, { alertId, limit: 1000 })).reverse();
  }

  /** The escalation reminder of an alert (test-clock time), if one is set. */
  async reminderAt(alertId: string): Promise<number | undefined> {
    const list = await this.system.reminderStore.list(escalationActorId(TENANT, alertId));
    return list[0]?.dueAt;
  }

  async stop(): Promise<void> {
    await this.relay.stop();
    await this.system.shutdown();
    await this.service.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The directory: users, teams, contact points, preferences, policies, rules

export async function addUser(
  pool: MigratedTestDatabase['pool'],
  email: string,
  options: { phone?: string } = {},
): Promise<{ id: string; email: string; phone?: string }> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO users (tenant_id, email, phone) VALUES ($1, $2, $3) RETURNING id::text AS id`,
    [TENANT, email, options.phone ?? null],
  );
  const id = rows[0]!.id;
  await addContactPoint(pool, id, 'email', { to: email });
  if (options.phone !== undefined) await addContactPoint(pool, id, 'sms', { to: options.phone });
  return { id, email, ...(options.phone === undefined ? {} : { phone: options.phone }) };
}

export async function addContactPoint(
  pool: MigratedTestDatabase['pool'],
  userId: string | null,
  kind: ContactPointKind,
  target: unknown,
): Promise<string> {
  const point = await createContactPoint(pool, plaintextSealer, {
    tenantId: TENANT,
    userId,
    kind,
    ...contactPointFields(kind, target),
  });
  return point.id;
}

export async function addTeam(
  pool: MigratedTestDatabase['pool'],
  name: string,
  members: readonly { readonly userId: string; readonly role?: 'lead' | 'member' }[],
): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    'INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id::text AS id',
    [TENANT, name],
  );
  const teamId = rows[0]!.id;
  for (const m of members) {
    await pool.query(
      'INSERT INTO team_members (tenant_id, team_id, user_id, role) VALUES ($1, $2, $3, $4)',
      [TENANT, teamId, m.userId, m.role ?? 'member'],
    );
  }
  return teamId;
}

export async function setPreferences(
  pool: MigratedTestDatabase['pool'],
  userId: string,
  prefs: Partial<NotificationPreferences>,
): Promise<void> {
  await putPreferences(pool, TENANT, userId, { ...DEFAULT_PREFERENCES, ...prefs });
}

/** Creates a policy; `defaultFor` makes it the tenant's default for those severities. */
export async function addPolicy(
  pool: MigratedTestDatabase['pool'],
  name: string,
  levels: readonly unknown[],
  defaultFor: readonly AlertSeverity[] = [],
): Promise<string> {
  const policy = await createEscalationPolicy(pool, TENANT, { name, levels });
  for (const severity of defaultFor) {
    await setDefaultEscalationPolicy(pool, TENANT, severity, policy.id);
  }
  return policy.id;
}

/** A stored rule (nothing evaluates it here: alerts are opened directly). */
export async function addRule(
  pool: MigratedTestDatabase['pool'],
  name: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const definition = {
    name,
    scope: { type: 'device', device: 'freezer-3' },
    condition: { metric: 'temp', op: '>', value: 8 },
    severity: 'critical',
    ...extra,
  };
  return (await new DefinitionRepo<typeof definition>(pool, 'rules').create(TENANT, definition)).id;
}

/** Mails of the sink as [to, event] pairs, in arrival order. */
export function mailLog(smtp: FakeSmtp): string[] {
  return smtp.mails.map((m) => {
    const event = /^X-Gito-Event:\s*(\S+)/im.exec(m.raw)?.[1] ?? '?';
    return `${m.to.join(',')} ${event}`;
  });
}
