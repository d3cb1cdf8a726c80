/**
 * Gito's side of `npm run bench:notify`: one node in process on a fresh database, composed as
 * app/cluster-node.ts composes it (ActorSystem with the PostgreSQL state and reminder stores,
 * startAlerting, startNotifications + runNotifications with production defaults: relay batch 500
 * and idle 250 ms, dispatcher poll 1 s and concurrency 32, pool of 10 connections), and alerts
 * opened the way the rule actor opens them: AlertStore.open (alert + event + outbox row in one
 * transaction), then Alerting.announce (which wakes the outbox relay, as the rule actor's
 * onChange does).
 *
 * Seed: GROUPS tenants ("alert groups"), each with one rule, one shared webhook contact point
 * (http://127.0.0.1:<receiver>/gito/<group>, a distinct URL and so a distinct delivery
 * recipient per group), and one escalation policy, its default for severity critical: one
 * level, delay 0s, that contact point. Alert i belongs to group i % GROUPS, device `d<i>`:
 * every alert is new, so each one opens, starts an escalation actor and sends one webhook.
 */
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { contactPointFields } from '../../actors/notify/contact-points.ts';
import { type Alerting, startAlerting } from '../../app/alerting.ts';
import {
  type Notifications,
  runNotifications,
  startNotifications,
} from '../../app/notifications.ts';
import type { OpenAlertInput } from '../../db/alerts/alert-store.ts';
import { DefinitionRepo } from '../../db/alerts/rule-repo.ts';
import { createTenant } from '../../db/devices/registry.ts';
import { PostgresReminderStore, PostgresStateStore } from '../../db/index.ts';
import { createContactPoint } from '../../db/notify/contact-points.ts';
import {
  createEscalationPolicy,
  setDefaultEscalationPolicy,
} from '../../db/notify/escalation-policies.ts';
import { withPlaintextFallback } from '../../db/notify/secrets.ts';
import { secretBoxFromEnv } from '../../db/secrets/secret-box.ts';
import { ActorSystem } from '../../runtime/index.ts';
import { log } from '../lib/report.ts';
import type { ScratchDatabase } from './lib.ts';

export const GROUPS = 100;
const SEVERITY = 'critical';

export const groupTenant = (g: number): string => `bench${String(g).padStart(3, '0')}`;

/**
 * Where each alert was on its way (wall ms, by alert id), stamped by wrappers the bench puts
 * around the relay's ask and the webhook channel's send (diagnostics; production code is
 * unchanged): the relay hands the event to the escalation actor (`askStart`), the actor has
 * looked up rule, policy, contact point and templates and writes the delivery (`planned`, inside
 * its transaction, before the insert and COMMIT), the actor has answered the relay (`askEnd`:
 * after its reminder and state writes), the dispatcher starts the HTTP request (`sendStart`).
 */
export interface StageStamps {
  readonly askStart: Map<string, number>;
  readonly planned: Map<string, number>;
  readonly askEnd: Map<string, number>;
  readonly sendStart: Map<string, number>;
  clear(): void;
}

function stampStages(system: ActorSystem, notifications: Notifications): StageStamps {
  const wall = () => performance.timeOrigin + performance.now();
  const stamps: StageStamps = {
    askStart: new Map(),
    planned: new Map(),
    askEnd: new Map(),
    sendStart: new Map(),
    clear() {
      this.askStart.clear();
      this.planned.clear();
      this.askEnd.clear();
      this.sendStart.clear();
    },
  };
  const ask = system.ask.bind(system);
  // The relay asks through `system` (its Asker): every alertEvent passes here.
  system.ask = ((target, message, options) => {
    const alertId = (message as { alert?: { id?: string } }).alert?.id;
    if (message.type !== 'alertEvent' || alertId === undefined)
      return ask(target, message, options);
    stamps.askStart.set(alertId, wall());
    return ask(target, message, options).finally(() => stamps.askEnd.set(alertId, wall()));
  }) as ActorSystem['ask'];
  const outbox = notifications.service.outbox;
  const enqueue = outbox.enqueueDeliveries.bind(outbox);
  outbox.enqueueDeliveries = (db, deliveries) => {
    const t = wall();
    for (const d of deliveries) if (d.alertId !== null) stamps.planned.set(d.alertId, t);
    return enqueue(db, deliveries);
  };
  const webhook = notifications.service.channels.get('webhook');
  if (webhook !== undefined) {
    const send = webhook.send.bind(webhook);
    webhook.send = (message, target, ctx) => {
      if (message.alertId !== null) stamps.sendStart.set(message.alertId, wall());
      return send(message, target, ctx);
    };
  }
  return stamps;
}

export interface GitoNode {
  readonly alerting: Alerting;
  readonly notifications: Notifications;
  readonly system: ActorSystem;
  /** Rule id per group. */
  readonly rules: readonly string[];
  readonly stages: StageStamps;
  /** Opens alert `i` as the rule actor would; returns its id and when open() returned. */
  open(i: number, now: number): Promise<{ id: string; openedAt: number }>;
  stop(): Promise<void>;
}

/** Seeds the groups, then starts the node's alerting and notification services. */
export async function startGitoNode(
  db: ScratchDatabase,
  receiverOrigin: string,
): Promise<GitoNode> {
  const env: NodeJS.ProcessEnv = {
    GITO_SECRET_KEY: randomBytes(32).toString('base64'),
    // The fake listens on loopback, which the SSRF guard refuses unless allowed.
    GITO_WEBHOOK_ALLOW: '127.0.0.1/32',
  };
  const sealer = withPlaintextFallback(secretBoxFromEnv(env));
  const rulesRepo = new DefinitionRepo<{ name: string; [k: string]: unknown }>(db.pool, 'rules');
  const rules: string[] = [];
  const t0 = performance.now();
  for (let g = 0; g < GROUPS; g++) {
    const tenantId = groupTenant(g);
    await createTenant(db.pool, { id: tenantId });
    const rule = await rulesRepo.create(tenantId, {
      name: 'bench: temperature high',
      scope: { type: 'tenant' },
      condition: { metric: 'temp', op: '>', value: 50 },
      severity: SEVERITY,
    });
    rules.push(rule.id);
    const point = await createContactPoint(db.pool, sealer, {
      tenantId,
      userId: null,
      kind: 'webhook',
      name: `operations webhook ${g}`,
      ...contactPointFields('webhook', {
        url: `${receiverOrigin}/gito/${g}`,
        secret: `bench-shared-secret-${g}-0123456789`,
      }),
    });
    const policy = await createEscalationPolicy(db.pool, tenantId, {
      name: 'bench: webhook at once',
      levels: [{ delay: '0s', targets: [{ type: 'contact_point', id: point.id }] }],
    });
    await setDefaultEscalationPolicy(db.pool, tenantId, SEVERITY, policy.id);
  }
  log(
    `gito: seeded ${GROUPS} tenants (rule, webhook, policy) in ${Math.round(performance.now() - t0)} ms`,
  );

  // Warnings and errors of the node reach stderr (a failed delivery, a relay round that failed).
  const logger: Logger = pino({ level: 'warn', base: { node: 'bench' } }, pino.destination(2));
  const registry = new Registry();
  const system = new ActorSystem({
    nodeId: 'bench',
    logger,
    registry,
    stateStore: new PostgresStateStore(db.pool),
    reminderStore: new PostgresReminderStore(db.pool),
  });
  // The rules exist before the catalogue starts: no 'ruleChanged' wakes any rule actor.
  const alerting = await startAlerting({ system, pool: db.pool, registry, logger });
  const notifications = startNotifications({
    system,
    pool: db.pool,
    registry,
    logger,
    nodeId: 'bench',
    alerting,
    env,
  });
  const stages = stampStages(system, notifications);
  runNotifications(notifications);

  return {
    alerting,
    notifications,
    system,
    rules,
    stages,
    async open(i, now) {
      const g = i % GROUPS;
      const input: OpenAlertInput = {
        tenantId: groupTenant(g),
        ruleId: rules[g] as string,
        ruleVersion: 1,
        deviceKey: `d${i}`,
        severity: SEVERITY,
        at: now,
        values: { temp: 51 + (i % 10) },
        suppressed: null,
        flapping: false,
        repeat: true,
      };
      const change = await alerting.alerts.open(input);
      const openedAt = performance.timeOrigin + performance.now();
      alerting.announce(change);
      return { id: change.alert.id, openedAt };
    },
    async stop() {
      await notifications.stop();
      await alerting.stop();
      // No system.shutdown(): it would save every escalation actor (one UPDATE each, tens of
      // seconds for the full run) into a database that is dropped next.
    },
  };
}
