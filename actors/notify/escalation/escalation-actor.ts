/**
 * The escalation actor (`escalation/{tenant}:{alertId}`): one per alert, created by the alert's
 * first event from the outbox relay. It runs the alert's escalation policy as a plan of steps at
 * absolute times on one durable reminder, plans each step's deliveries idempotently into the
 * delivery outbox, and stops on acknowledge or resolve. docs/escalation.md has the decisions.
 */
import type { Pool } from 'pg';
import type { Alert, AlertEvent } from '../../../db/alerts/alert-store.ts';
import {
  type ContactPointWithSecret,
  getContactPointsWithSecrets,
  getUsersContactPoints,
} from '../../../db/notify/contact-points.ts';
import { listDeliveries, type NotificationEvent } from '../../../db/notify/deliveries.ts';
import { ruleForEscalation, teamMemberIds } from '../../../db/notify/escalation-directory.ts';
import {
  defaultEscalationPolicy,
  type EscalationPolicy,
  getEscalationPolicy,
  listEscalationPolicies,
} from '../../../db/notify/escalation-policies.ts';
import { getPreferences } from '../../../db/notify/preferences.ts';
import type { SecretSealer } from '../../../db/notify/secrets.ts';
import { listTemplateOverrides } from '../../../db/notify/templates.ts';
import { type ActorContext, defineActor } from '../../../runtime/index.ts';
import { targetOfContactPoint } from '../contact-points.ts';
import type { DeliveryOutbox, PlannedDelivery } from '../delivery/outbox.ts';
import { renderMessage } from '../templates/templates.ts';
import { ESCALATION_KIND } from './ids.ts';
import { type PlanStep, type PolicyLevel, planSteps, validateLevels } from './policy.ts';
import { type Recipient, type RecipientDirectory, resolveRecipients } from './recipients.ts';
import { TtlCache } from './ttl-cache.ts';

export type EscalationMessage =
  | { readonly type: 'alertEvent'; readonly event: AlertEvent; readonly alert: Alert }
  | { readonly type: 'inspect' };

type Phase =
  /** No event applied yet. */
  | 'idle'
  /** Open but suppressed (maintenance, inhibition, flapping): waiting to be released. */
  | 'waiting'
  | 'running'
  /** Acknowledged, resolved, or no policy applies. */
  | 'stopped';

export interface EscalationState {
  phase: Phase;
  lastEventId: number;
  alert: Alert | null;
  ruleName: string | null;
  policyId: string | null;
  levels: PolicyLevel[];
  startedAt: number | null;
  /** Steps of the plan already carried out. */
  cursor: number;
  /** Contact points notified so far (they hear about acknowledge/resolve). */
  notified: string[];
  /** Why it stopped (no policy, acknowledged, resolved). */
  stopReason: string | null;
  /**
   * Messages held for their recipient's quiet hours: planned here, not in the delivery outbox,
   * so that a held message never holds back a later one (a critical alert that bypasses quiet
   * hours) in its recipient's queue. Released at `at`; dropped on acknowledge or resolve.
   */
  held: Array<{ at: number; key: string; contactPoint: string }>;
  /** Due time of the reminder set now (null: none), so an unneeded clear costs nothing. */
  reminderAt: number | null;
}

export interface EscalationActorOptions {
  readonly pool: Pool;
  readonly outbox: DeliveryOutbox;
  readonly sealer: SecretSealer;
  /** Called after deliveries were committed, so the dispatcher looks now. */
  readonly wakeDispatcher?: () => void;
  /**
   * How long policies, contact points, preferences, team members and templates read for one
   * alert are reused for the next (changes reach escalation within it). Default 5 s; 0: none.
   */
  readonly cacheTtlMs?: number;
  /** Public base URL of the dashboard for links in messages (e.g. https://gito.example.com). */
  readonly publicUrl?: string;
  readonly now?: () => number;
}

const REMINDER = 'step';
/** Channels that hear about a resolve (SMS stays quiet: nobody wants a 3 a.m. "all good"). */
const RESOLVE_CHANNELS = new Set(['email', 'slack', 'webhook', 'pagerduty']);
/** Channels with their own incident lifecycle, told about acknowledgements. */
const ACK_CHANNELS = new Set(['pagerduty']);

function initial(): EscalationState {
  return {
    phase: 'idle',
    lastEventId: 0,
    alert: null,
    ruleName: null,
    policyId: null,
    levels: [],
    startedAt: null,
    cursor: 0,
    notified: [],
    stopReason: null,
    held: [],
    reminderAt: null,
  };
}

export function createEscalationActor(options: EscalationActorOptions) {
  const { pool, outbox, sealer } = options;
  const clock = options.now ?? (() => Date.now());
  const cache = new TtlCache(options.cacheTtlMs ?? 5_000);
  type Ctx = ActorContext<EscalationState, EscalationMessage>;

  function directory(tenantId: string): RecipientDirectory {
    return {
      teamMembers: (teamId, leadsOnly) =>
        cache.get(`team:${tenantId}:${teamId}:${leadsOnly}`, () =>
          teamMemberIds(pool, tenantId, teamId, leadsOnly),
        ),
      usersContactPoints: (ids) =>
        cache.get(`ucp:${tenantId}:${[...ids].sort().join(',')}`, () =>
          getUsersContactPoints(pool, sealer, tenantId, ids),
        ),
      contactPoints: (ids) =>
        cache.get(`cp:${tenantId}:${[...ids].sort().join(',')}`, () =>
          getContactPointsWithSecrets(pool, sealer, tenantId, ids),
        ),
      preferences: (ids) =>
        cache.get(`pref:${tenantId}:${[...ids].sort().join(',')}`, () =>
          getPreferences(pool, tenantId, ids),
        ),
    };
  }

  function policyFor(alert: Alert, named: string | null): Promise<EscalationPolicy | undefined> {
    return cache.get(`policy:${alert.tenantId}:${named ?? ''}:${alert.severity}`, () =>
      loadPolicy(alert, named),
    );
  }

  async function loadPolicy(
    alert: Alert,
    named: string | null,
  ): Promise<EscalationPolicy | undefined> {
    if (named !== null) {
      // Rules name a policy by id or by name (the rule format takes any text; a name that is
      // not an id must not reach the bigint column, where it would fail every retry).
      const byId = /^\d{1,18}$/.test(named)
        ? await getEscalationPolicy(pool, alert.tenantId, named)
        : undefined;
      const policy =
        byId ??
        (await listEscalationPolicies(pool, alert.tenantId)).find(
          (p) => p.name.toLowerCase() === named.toLowerCase(),
        );
      if (policy !== undefined) return policy;
    }
    return defaultEscalationPolicy(pool, alert.tenantId, alert.severity);
  }

  function context(s: EscalationState, alert: Alert) {
    const base = options.publicUrl?.replace(/\/$/, '');
    return {
      alert: {
        id: alert.id,
        severity: alert.severity,
        state: alert.state,
        openedAt: new Date(alert.openedAt).toISOString(),
        count: alert.count,
        rule: { id: alert.ruleId, name: s.ruleName ?? `rule ${alert.ruleId}` },
        device: alert.deviceKey === null ? null : { key: alert.deviceKey },
        values: alert.lastValues,
        ...(alert.devices === null ? {} : { devices: alert.devices }),
        ...(alert.acknowledgedBy === null ? {} : { acknowledgedBy: alert.acknowledgedBy }),
        ...(alert.resolveReason === null ? {} : { resolveReason: alert.resolveReason }),
      },
      links: base === undefined ? {} : { alert: `${base}/alerts/${alert.id}` },
    };
  }

  /** Renders and plans one message per recipient, in one transaction; returns those planned. */
  async function deliver(
    s: EscalationState,
    alert: Alert,
    event: NotificationEvent,
    recipients: readonly Recipient[],
    keyOf: (cp: ContactPointWithSecret) => string,
  ): Promise<void> {
    if (recipients.length === 0) return;
    const now = clock();
    const overrides = await cache.get(`templates:${alert.tenantId}`, () =>
      listTemplateOverrides(pool, alert.tenantId),
    );
    const planned: PlannedDelivery[] = [];
    for (const r of recipients) {
      const { message } = renderMessage(
        {
          channel: r.contactPoint.kind,
          event,
          severity: alert.severity,
          tenantId: alert.tenantId,
          alertId: alert.id,
          context: context(s, alert),
          occurredAt: now,
        },
        overrides,
      );
      planned.push({
        tenantId: alert.tenantId,
        alertId: alert.id,
        channel: r.contactPoint.kind,
        target: targetOfContactPoint(r.contactPoint),
        contactPointId: r.contactPoint.id,
        message,
        idempotencyKey: keyOf(r.contactPoint),
      });
    }
    // One INSERT statement: the step's deliveries are stored together or not at all, without
    // the two extra round trips (and second commit) of an explicit transaction.
    await outbox.enqueueDeliveries(pool, planned);
    options.wakeDispatcher?.();
  }

  /** Carries out every step that is due, then sets the reminder for the next one. */
  async function runDue(ctx: Ctx): Promise<void> {
    const s = ctx.state;
    const alert = s.alert;
    if (s.phase !== 'running' || alert === null || s.startedAt === null) return;
    const steps: PlanStep[] = planSteps(s.levels, s.startedAt);
    const now = clock();
    while (s.cursor < steps.length && (steps[s.cursor] as PlanStep).at <= now) {
      const index = s.cursor;
      const step = steps[index] as PlanStep;
      const level = s.levels[step.level] as PolicyLevel;
      const recipients = await resolveRecipients(
        level.targets,
        { ruleId: alert.ruleId, severity: alert.severity },
        directory(alert.tenantId),
        now,
      );
      // The plan's start is part of the key: a plan started over after a suppression ended
      // sends its steps again instead of finding the first run's keys and skipping them.
      const run = s.startedAt;
      const keyOf = (cp: ContactPointWithSecret) =>
        `alert:${alert.id}:start:${run}:step:${index}:cp:${cp.id}`;
      const due = recipients.filter((r) => r.notBefore === undefined || r.notBefore <= now);
      for (const r of recipients) {
        if (r.notBefore !== undefined && r.notBefore > now) {
          s.held.push({
            at: r.notBefore,
            key: keyOf(r.contactPoint),
            contactPoint: r.contactPoint.id,
          });
        }
      }
      await deliver(s, alert, 'firing', due, keyOf);
      for (const r of due) {
        if (!s.notified.includes(r.contactPoint.id)) s.notified.push(r.contactPoint.id);
      }
      s.cursor = index + 1;
      // Saved per step: a crash replays at most this step, whose deliveries then already exist.
      await ctx.save();
    }
    await releaseHeld(ctx, alert, now);
    const next = Math.min(
      steps[s.cursor]?.at ?? Number.POSITIVE_INFINITY,
      ...s.held.map((h) => h.at),
    );
    if (!Number.isFinite(next)) await clearStep(ctx);
    else if (next !== s.reminderAt) {
      await ctx.setReminder(REMINDER, { at: next });
      s.reminderAt = next;
    }
  }

  async function clearStep(ctx: Ctx): Promise<void> {
    if (ctx.state.reminderAt === null) return;
    await ctx.clearReminder(REMINDER);
    ctx.state.reminderAt = null;
  }

  /** Plans the held messages whose quiet hours are over. */
  async function releaseHeld(ctx: Ctx, alert: Alert, now: number): Promise<void> {
    const s = ctx.state;
    const due = s.held.filter((h) => h.at <= now);
    if (due.length === 0) return;
    const points = new Map(
      (
        await getContactPointsWithSecrets(
          pool,
          sealer,
          alert.tenantId,
          due.map((h) => h.contactPoint),
        )
      ).map((cp) => [cp.id, cp]),
    );
    // One message per held entry (a recipient held over two steps gets both), keyed as planned.
    for (const h of due) {
      const cp = points.get(h.contactPoint);
      if (cp === undefined || !cp.enabled) continue;
      await deliver(s, alert, 'firing', [{ contactPoint: cp, userId: cp.userId }], () => h.key);
      if (!s.notified.includes(cp.id)) s.notified.push(cp.id);
    }
    s.held = s.held.filter((h) => h.at > now);
    await ctx.save();
  }

  async function start(ctx: Ctx, at: number): Promise<void> {
    const s = ctx.state;
    const alert = s.alert as Alert;
    const rule = await cache.get(`rule:${alert.tenantId}:${alert.ruleId}`, () =>
      ruleForEscalation(pool, alert.tenantId, alert.ruleId),
    );
    s.ruleName = rule?.name ?? null;
    const policy = await policyFor(alert, rule?.escalationPolicy ?? null);
    const levels = policy === undefined ? undefined : validateLevels(policy.levels);
    if (policy === undefined || levels === undefined || !levels.ok) {
      s.phase = 'stopped';
      s.stopReason =
        policy === undefined ? 'no escalation policy applies' : `policy ${policy.id} is invalid`;
      ctx.log.warn({ alert: alert.id, reason: s.stopReason }, 'alert not escalated');
      return;
    }
    s.policyId = policy.id;
    s.levels = levels.levels;
    s.startedAt = at;
    s.cursor = 0;
    s.phase = 'running';
    await runDue(ctx);
  }

  /** Acknowledged or resolved: no further steps, pending firing messages cancelled. */
  async function stop(ctx: Ctx, event: 'acknowledged' | 'resolved'): Promise<void> {
    const s = ctx.state;
    const alert = s.alert as Alert;
    const wasRunning = s.phase === 'running';
    s.phase = 'stopped';
    s.stopReason = event;
    s.held = [];
    await clearStep(ctx);
    await outbox.cancelPending(pool, alert.id, ['firing']);
    if (!wasRunning && event === 'acknowledged') return;
    const channels = event === 'resolved' ? RESOLVE_CHANNELS : ACK_CHANNELS;
    // Only those a firing message reached or is reaching now: one cancelled before it went out
    // (or failed) leaves nothing to acknowledge or resolve (PagerDuty has no such incident).
    // Newest first: past 1000 deliveries the oldest are not looked at (later rounds repeat them).
    const reached = new Set(
      (await listDeliveries(pool, alert.tenantId, { alertId: alert.id, limit: 1000 }))
        .filter((d) => d.event === 'firing' && (d.status === 'delivered' || d.status === 'sending'))
        .map((d) => d.contactPointId),
    );
    const points = await getContactPointsWithSecrets(
      pool,
      sealer,
      alert.tenantId,
      s.notified.filter((id) => reached.has(id)),
    );
    const recipients = points
      .filter((cp) => cp.enabled && channels.has(cp.kind))
      .map((cp) => ({ contactPoint: cp, userId: cp.userId }));
    await deliver(s, alert, event, recipients, (cp) => `alert:${alert.id}:${event}:cp:${cp.id}`);
  }

  async function applyEvent(
    ctx: Ctx,
    m: Extract<EscalationMessage, { type: 'alertEvent' }>,
  ): Promise<Phase> {
    const s = ctx.state;
    const id = Number(m.event.id);
    // Out of order or repeated (several relays, redelivery): the newest event wins.
    if (!(id > s.lastEventId)) return s.phase;
    s.lastEventId = id;
    s.alert = m.alert;
    const alert = m.alert;
    switch (m.event.type) {
      case 'opened':
      case 'unsuppressed':
        if (alert.state !== 'active') break;
        if (alert.suppressed !== null) s.phase = 'waiting';
        else if (s.phase === 'idle' || s.phase === 'waiting') await start(ctx, m.event.at);
        break;
      case 'suppressed':
        if (s.phase === 'running') {
          s.phase = 'waiting';
          s.held = [];
          await clearStep(ctx);
          await outbox.cancelPending(pool, alert.id, ['firing']);
        } else if (s.phase === 'idle') s.phase = 'waiting';
        break;
      case 'acknowledged':
      case 'resolved':
        if (s.phase !== 'stopped' || s.stopReason === 'acknowledged') {
          await stop(ctx, m.event.type);
        }
        break;
      default:
        // severity, flapping, devices...: the snapshot above is all they change here.
        break;
    }
    await ctx.save();
    return s.phase;
  }

  return defineActor<EscalationState, EscalationMessage>()({
    kind: ESCALATION_KIND,
    initialState: initial,
    // An alert's escalation can span days; its state is small and saved at each step.
    idleTimeoutMs: 5 * 60_000,

    onReminder(ctx) {
      // The reminder that fired is used up (unless runDue sets it again).
      ctx.state.reminderAt = null;
      return runDue(ctx);
    },

    handlers: {
      async alertEvent(ctx, m) {
        // The runtime retries a failed message on the in-memory state: undo a half-applied
        // event, or the retry would take it for a duplicate (lastEventId) and drop it.
        const before = structuredClone(ctx.state);
        try {
          return await applyEvent(ctx, m);
        } catch (err) {
          ctx.state = before;
          throw err;
        }
      },

      inspect(ctx) {
        return structuredClone(ctx.state);
      },
    },
  });
}
