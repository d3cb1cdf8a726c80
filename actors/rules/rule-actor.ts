/**
 * The rule actor (`rule/{tenantId}:{ruleId}`): one per rule. Device actors report when a device
 * starts or stops breaching; this actor decides what that means for the rule's alerts — the
 * schedule, maintenance windows, inhibition, flapping, aggregates, severity escalation — and
 * commits it through the AlertStore (alert + event + outbox in one transaction) before
 * acknowledging the report. docs/alerting.md explains why the work is split this way.
 */
import type { AlertChange, AlertStore, SuppressionReason } from '../../db/alerts/alert-store.ts';
import { type ActorContext, actorId, defineActor } from '../../runtime/index.ts';
import type { RuleCatalog } from './catalog.ts';
import type { CompiledRule } from './eval/index.ts';
import { parseDuration } from './format/duration.ts';
import { RULE_KIND, type RuleAck, type RuleMessage, type RuleReport } from './messages.ts';
import { SEVERITIES, type Severity } from './model.ts';
import { FlapTracker, type FlapTrackerJSON } from './suppress/flapping.ts';
import { findInhibitor } from './suppress/inhibition.ts';
import { nextBoundary, windowsCovering } from './time/maintenance.ts';
import { isScheduleActive, nextScheduleChange } from './time/schedule.ts';

/** Latest report of one device, as applied. */
interface DeviceEntry {
  seq: number;
  at: number;
  breaching: boolean;
  severity: Severity;
  values: Record<string, unknown>;
  lastBreachAt: number;
  /** Why it stopped breaching, when it did. */
  reason?: 'condition' | 'auto-resolve';
  groups: string[];
  tags: string[];
  gateway: string | null;
}

/** What this actor last wrote for an open alert (so unchanged facts write nothing). */
interface OpenAlert {
  id: string;
  openedAt: number;
  severity: Severity;
  suppressed: SuppressionReason | null;
  flapping: boolean;
  devices?: string[];
}

export interface RuleActorState {
  devices: Record<string, DeviceEntry>;
  /** Open alerts by device key ('' for an aggregate). */
  open: Record<string, OpenAlert>;
  flaps: Record<string, FlapTrackerJSON>;
  /** Time of the durable wake-up currently set (0: none). */
  wakeAt: number;
}

export interface RuleActorOptions {
  readonly catalog: RuleCatalog;
  readonly alerts: AlertStore;
  /** Devices in scope, for aggregates with minPercent (cached by the caller). */
  readonly devicesInScope?: (rule: CompiledRule) => Promise<number>;
  /** A stored maintenance window that cannot be evaluated (counted and logged by the caller). */
  readonly onInvalidWindow?: (windowId: string, error: string) => void;
  /** Every committed alert change (live stream, metrics). */
  readonly onChange?: (change: AlertChange) => void;
  readonly now?: () => number;
}

const FLUSH: RuleMessage = Object.freeze({ type: 'flush' });
/** Device keys an aggregate alert lists at most (the count is always exact). */
const MAX_LISTED_DEVICES = 1000;

/** Reports applied to the state but not yet reconciled, saved and acknowledged. */
interface PendingWork {
  /** Alert key -> whether a new breach is among the reports (counts a repeat). */
  readonly keys: Map<string, boolean>;
  readonly acks: Array<{ device: ReturnType<typeof actorId>; ack: RuleAck }>;
}

/**
 * Cleared devices are remembered this long so a late duplicate of an old report is ignored
 * (devices re-send unacknowledged reports every 5 s; a delayed copy arrives well within this).
 * Short, because the rule actor's state is saved whole on every flush.
 */
const TOMBSTONE_MS = 5 * 60_000;
const AGGREGATE = '';

export function ruleActorId(tenantId: string, ruleId: string) {
  return actorId(RULE_KIND, `${tenantId}:${ruleId}`);
}

function splitKey(key: string): { tenantId: string; ruleId: string } {
  const i = key.indexOf(':');
  return { tenantId: key.slice(0, i), ruleId: key.slice(i + 1) };
}

function moreSevere(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) <= SEVERITIES.indexOf(b) ? a : b;
}

export function createRuleActor(options: RuleActorOptions) {
  const clock = options.now ?? (() => Date.now());
  const { catalog, alerts } = options;
  type Ctx = ActorContext<RuleActorState, RuleMessage>;
  const pending = new WeakMap<Ctx, PendingWork>();

  function compiled(ctx: Ctx): CompiledRule | undefined {
    const { tenantId, ruleId } = splitKey(ctx.key);
    return catalog.rule(tenantId, ruleId);
  }

  function committed(change: AlertChange | undefined): void {
    if (change !== undefined && change.events.length > 0) options.onChange?.(change);
  }

  /** Severity after escalation over the alert's age (never lowers). */
  function escalated(rule: CompiledRule, base: Severity, openedAt: number, now: number): Severity {
    const spec = rule.rule.severity;
    if (typeof spec === 'string' || spec.escalate === undefined) return base;
    let severity = base;
    for (const step of spec.escalate) {
      if (now - openedAt >= parseDuration(step.after))
        severity = moreSevere(severity, step.severity);
    }
    return severity;
  }

  function maintenanceCovers(
    rule: CompiledRule,
    device: DeviceEntry | undefined,
    key: string,
    now: number,
  ) {
    const scope = rule.rule.scope;
    // An aggregate's alert has no device: windows over its group or tags (or the tenant) cover it.
    const subject =
      key === AGGREGATE
        ? {
            ruleId: rule.rule.id,
            deviceGroups: scope.type === 'group' ? [scope.group] : [],
            deviceTags: scope.type === 'tags' ? [...(scope.all ?? [])] : [],
          }
        : {
            ruleId: rule.rule.id,
            deviceKey: key,
            deviceGroups: device?.groups ?? [],
            deviceTags: device?.tags ?? [],
          };
    const covering = windowsCovering(
      catalog.windowsOf(rule.rule.tenantId),
      subject,
      now,
      (w, err) => options.onInvalidWindow?.(w.id, err.message),
    );
    return covering.length > 0;
  }

  /** Is an open, unsuppressed alert of a rule that inhibits this one covering the device? */
  async function inhibited(rule: CompiledRule, key: string, device: DeviceEntry | undefined) {
    const inhibitors = catalog
      .rulesOf(rule.rule.tenantId)
      .filter((r) => r.rule.inhibits?.rules.includes(rule.rule.id) === true);
    const candidate = {
      ruleId: rule.rule.id,
      ...(key === AGGREGATE ? {} : { deviceKey: key }),
      deviceAttributes: device?.gateway == null ? {} : { gateway: device.gateway },
    };
    for (const inhibitor of inhibitors) {
      const open = (await alerts.openOfRule(inhibitor.rule.id))
        .filter((a) => a.suppressed === null)
        .map((a) => ({
          ruleId: a.ruleId,
          ...(a.deviceKey === null ? {} : { deviceKey: a.deviceKey }),
          ...(inhibitor.rule.inhibits === undefined ? {} : { inhibits: inhibitor.rule.inhibits }),
        }));
      if (findInhibitor(open, candidate) !== undefined) return true;
    }
    return false;
  }

  function flapTracker(ctx: Ctx, rule: CompiledRule, key: string): FlapTracker | undefined {
    const spec = rule.rule.flapping;
    if (spec === undefined) return undefined;
    const stored = ctx.state.flaps[key];
    return stored === undefined ? new FlapTracker(spec) : FlapTracker.fromJSON(spec, stored);
  }

  /** Brings the alert of `key` in line with what the actor knows now. */
  async function reconcile(
    ctx: Ctx,
    rule: CompiledRule,
    key: string,
    now: number,
    repeat: boolean,
  ) {
    const s = ctx.state;
    const open = s.open[key];
    const aggregate = rule.rule.aggregate !== undefined;
    let breaching: boolean;
    let severity: Severity;
    let values: Record<string, unknown>;
    let devices: string[] | undefined;
    let device: DeviceEntry | undefined;
    if (aggregate) {
      const counted = countedDevices(ctx, rule, now);
      devices = counted
        .map(([k]) => k)
        .sort()
        .slice(0, MAX_LISTED_DEVICES);
      const threshold = await aggregateThreshold(rule);
      const clearBelow = rule.rule.aggregate?.clearBelow ?? threshold;
      breaching = open === undefined ? counted.length >= threshold : counted.length >= clearBelow;
      severity = counted.reduce<Severity>(
        (acc, [, e]) => moreSevere(acc, e.severity),
        SEVERITIES[SEVERITIES.length - 1] as Severity,
      );
      values = { devices: counted.length, threshold };
    } else {
      device = s.devices[key];
      breaching = device?.breaching ?? false;
      severity = device?.severity ?? 'info';
      values = device?.values ?? {};
    }
    const flaps = flapTracker(ctx, rule, key);
    const flapping = flaps?.isFlapping(now) ?? false;
    // A flapping alert is held open through its clears until it settles.
    const held = open !== undefined && !breaching && flapping;
    if (held) severity = open.severity;
    const scheduled = rule.rule.schedule === undefined || isScheduleActive(rule.rule.schedule, now);
    const wantOpen = open !== undefined ? breaching || held : breaching && scheduled;

    if (!wantOpen) {
      if (open === undefined) return;
      const reason =
        device?.reason === 'auto-resolve' ? 'no telemetry (auto-resolve)' : 'condition cleared';
      committed(await alerts.resolveOpen(rule.rule.id, aggregate ? null : key, now, reason));
      delete s.open[key];
      if (rule.rule.inhibits !== undefined) notifyInhibited(ctx, rule);
      return;
    }
    const openedAt = open?.openedAt ?? now;
    severity = escalated(rule, severity, openedAt, now);
    let suppressed: SuppressionReason | null = null;
    if (maintenanceCovers(rule, device, key, now)) suppressed = 'maintenance';
    else if (await inhibited(rule, key, device)) suppressed = 'inhibited';
    else if (flapping) suppressed = 'flapping';
    const unchanged =
      open !== undefined &&
      !repeat &&
      open.severity === severity &&
      open.suppressed === suppressed &&
      open.flapping === flapping &&
      (devices === undefined || JSON.stringify(open.devices) === JSON.stringify(devices));
    if (unchanged) return;
    const change = await alerts.open({
      tenantId: rule.rule.tenantId,
      ruleId: rule.rule.id,
      ruleVersion: rule.rule.version,
      deviceKey: aggregate ? null : key,
      severity,
      at: now,
      values,
      ...(devices === undefined ? {} : { devices }),
      suppressed,
      flapping,
      repeat: repeat || open === undefined,
    });
    committed(change);
    s.open[key] = {
      id: change.alert.id,
      openedAt: change.alert.openedAt,
      severity,
      suppressed,
      flapping,
      ...(devices === undefined ? {} : { devices }),
    };
    if (open === undefined && rule.rule.inhibits !== undefined) notifyInhibited(ctx, rule);
  }

  function notifyInhibited(ctx: Ctx, rule: CompiledRule): void {
    for (const target of rule.rule.inhibits?.rules ?? []) {
      ctx.tell(ruleActorId(rule.rule.tenantId, target), { type: 'inhibitionChanged' });
    }
  }

  function countedDevices(ctx: Ctx, rule: CompiledRule, now: number): Array<[string, DeviceEntry]> {
    const window = parseDuration(rule.rule.aggregate?.window ?? '0s');
    return Object.entries(ctx.state.devices).filter(
      ([, e]) => e.breaching || (e.lastBreachAt > 0 && now - e.lastBreachAt < window),
    );
  }

  async function aggregateThreshold(rule: CompiledRule): Promise<number> {
    const spec = rule.rule.aggregate;
    if (spec === undefined) return 1;
    let threshold = spec.minDevices ?? Number.POSITIVE_INFINITY;
    if (spec.minPercent !== undefined && options.devicesInScope !== undefined) {
      const total = await options.devicesInScope(rule);
      threshold = Math.min(threshold, Math.max(1, Math.ceil((total * spec.minPercent) / 100)));
    }
    return threshold;
  }

  /** Earliest time a clock-driven change is due: schedule, windows, expiries, escalation. */
  function nextWake(ctx: Ctx, rule: CompiledRule, now: number): number {
    const s = ctx.state;
    let next = Number.POSITIVE_INFINITY;
    const consider = (t: number | undefined) => {
      if (t !== undefined && t > now && t < next) next = t;
    };
    if (rule.rule.schedule !== undefined) consider(nextScheduleChange(rule.rule.schedule, now));
    for (const window of catalog.windowsOf(rule.rule.tenantId)) consider(nextBoundary(window, now));
    if (rule.rule.aggregate !== undefined) {
      const windowMs = parseDuration(rule.rule.aggregate.window);
      for (const e of Object.values(s.devices)) {
        if (!e.breaching && e.lastBreachAt > 0) consider(e.lastBreachAt + windowMs);
      }
    }
    const spec = rule.rule.severity;
    for (const open of Object.values(s.open)) {
      if (typeof spec !== 'string') {
        for (const step of spec.escalate ?? []) consider(open.openedAt + parseDuration(step.after));
      }
    }
    for (const key of Object.keys(s.flaps)) {
      const tracker = flapTracker(ctx, rule, key);
      if (tracker !== undefined) consider(tracker.nextChange(now));
      else delete s.flaps[key];
    }
    return next;
  }

  async function armWake(ctx: Ctx, rule: CompiledRule, now: number): Promise<void> {
    const next = nextWake(ctx, rule, now);
    if (next === ctx.state.wakeAt) return;
    ctx.state.wakeAt = Number.isFinite(next) ? next : 0;
    if (Number.isFinite(next)) await ctx.setReminder('wake', { at: next });
    else await ctx.clearReminder('wake');
  }

  function prune(ctx: Ctx, rule: CompiledRule, now: number): void {
    const windowMs =
      rule.rule.aggregate === undefined ? 0 : parseDuration(rule.rule.aggregate.window);
    for (const [key, e] of Object.entries(ctx.state.devices)) {
      if (!e.breaching && now - e.at > Math.max(TOMBSTONE_MS, windowMs))
        delete ctx.state.devices[key];
    }
  }

  /** Re-checks every alert the actor knows of (schedule/window boundaries, rule changes). */
  async function reconcileAll(ctx: Ctx, rule: CompiledRule, now: number): Promise<void> {
    if (rule.rule.aggregate !== undefined) {
      await reconcile(ctx, rule, AGGREGATE, now, false);
      return;
    }
    const keys = new Set([...Object.keys(ctx.state.open), ...Object.keys(ctx.state.devices)]);
    for (const key of keys) await reconcile(ctx, rule, key, now, false);
  }

  /** The rule is gone or disabled: resolve its open alerts with the reason. */
  async function retire(ctx: Ctx): Promise<void> {
    const { ruleId } = splitKey(ctx.key);
    const now = clock();
    for (const open of await alerts.openOfRule(ruleId)) {
      committed(await alerts.resolveOpen(ruleId, open.deviceKey, now, 'rule deleted or disabled'));
    }
    ctx.state = { devices: {}, open: {}, flaps: {}, wakeAt: 0 };
    await ctx.clearReminder('wake');
  }

  return defineActor<RuleActorState, RuleMessage>()({
    kind: RULE_KIND,
    initialState: () => ({ devices: {}, open: {}, flaps: {}, wakeAt: 0 }),

    async onActivate(ctx) {
      // The stored view of open alerts can lag a crash between commit and save: trust the table.
      const { ruleId } = splitKey(ctx.key);
      const rows = await alerts.openOfRule(ruleId);
      const open: Record<string, OpenAlert> = {};
      for (const a of rows) {
        open[a.deviceKey ?? AGGREGATE] = {
          id: a.id,
          openedAt: a.openedAt,
          severity: a.severity,
          suppressed: a.suppressed,
          flapping: a.flapping,
          ...(a.devices === null ? {} : { devices: [...a.devices] }),
        };
      }
      ctx.state.open = open;
    },

    async onReminder(ctx) {
      ctx.state.wakeAt = 0;
      const rule = compiled(ctx);
      if (rule === undefined) return retire(ctx);
      const now = clock();
      await reconcileAll(ctx, rule, now);
      prune(ctx, rule, now);
      await armWake(ctx, rule, now);
      await ctx.save();
    },

    handlers: {
      report(ctx, m: RuleReport): void | Promise<void> {
        const rule = compiled(ctx);
        const { tenantId, ruleId } = splitKey(ctx.key);
        const ack: RuleAck = { type: 'ruleAck', ruleId, seq: m.seq };
        const device = actorId('device', `${tenantId}:${m.deviceKey}`);
        const s = ctx.state;
        const previous = s.devices[m.deviceKey];
        // Deleted or disabled rule, or a report older than the one applied: acknowledge only.
        if (rule === undefined || (previous !== undefined && m.seq <= previous.seq)) {
          ctx.tell(device, ack);
          // Deleted while this node was down: its alerts still resolve, with the reason.
          if (rule === undefined && Object.keys(s.open).length > 0) return retire(ctx);
          return;
        }
        s.devices[m.deviceKey] = {
          seq: m.seq,
          at: m.at,
          breaching: m.breaching,
          severity: m.severity,
          values: { ...m.values },
          // The last moment it breached: now while breaching, the clear time when it stops.
          lastBreachAt:
            m.breaching || previous?.breaching === true ? m.at : (previous?.lastBreachAt ?? 0),
          ...(m.reason === undefined ? {} : { reason: m.reason }),
          groups: [...m.groups],
          tags: [...m.tags],
          gateway: m.gateway,
        };
        const key = rule.rule.aggregate === undefined ? m.deviceKey : AGGREGATE;
        if (rule.rule.flapping !== undefined && previous?.breaching !== m.breaching) {
          const tracker = flapTracker(ctx, rule, key) as FlapTracker;
          tracker.record(m.at);
          s.flaps[key] = tracker.toJSON();
        }
        // Applied in one `flush` turn after the reports already queued (a burst of reports
        // costs one reconciliation, one save and one write per alert, not one per report).
        let work = pending.get(ctx);
        if (work === undefined) {
          work = { keys: new Map(), acks: [] };
          pending.set(ctx, work);
          ctx.tell(ctx.id, FLUSH);
        }
        const newBreach = m.breaching && previous?.breaching !== true;
        work.keys.set(key, (work.keys.get(key) ?? false) || newBreach);
        work.acks.push({ device, ack });
      },

      async flush(ctx) {
        const work = pending.get(ctx);
        if (work === undefined) return;
        const rule = compiled(ctx);
        if (rule !== undefined) {
          const now = clock();
          for (const [key, repeat] of work.keys) await reconcile(ctx, rule, key, now, repeat);
          prune(ctx, rule, now);
          await armWake(ctx, rule, now);
          await ctx.save();
        }
        // Kept until here: a failed flush is retried by the runtime with the same work.
        pending.delete(ctx);
        // Only now is the report's effect durable: the device may stop re-sending it.
        for (const { device, ack } of work.acks) ctx.tell(device, ack);
      },

      async wake(ctx) {
        const rule = compiled(ctx);
        if (rule === undefined) return retire(ctx);
        const now = clock();
        await reconcileAll(ctx, rule, now);
        await armWake(ctx, rule, now);
        await ctx.save();
      },

      async ruleChanged(ctx) {
        const rule = compiled(ctx);
        if (rule === undefined) return retire(ctx);
        const now = clock();
        await reconcileAll(ctx, rule, now);
        ctx.state.wakeAt = -1;
        await armWake(ctx, rule, now);
        await ctx.save();
      },

      async inhibitionChanged(ctx) {
        const rule = compiled(ctx);
        if (rule === undefined) return;
        await reconcileAll(ctx, rule, clock());
        await ctx.save();
      },

      inspect(ctx) {
        return structuredClone(ctx.state);
      },
    },
  });
}

export type RuleActorDefinition = ReturnType<typeof createRuleActor>;
