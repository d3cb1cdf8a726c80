/**
 * The device actor: one per device (`device/{tenantId}:{deviceKey}`), holding its live status.
 * It is the cache the gateway reads; see docs in createDeviceActor.
 */
import {
  type ActorContext,
  type ActorId,
  type AskOptions,
  actorId,
  defineActor,
  type Logger,
  type Message,
  Rejection,
  StaleEpochError,
} from '../../runtime/index.ts';
import type { DeviceRuleEngine, DeviceRuleMemory, Outgoing } from '../rules/device-rules.ts';
import { deriveStatus } from './derived.ts';
import {
  ACTIVATED_AT,
  applyTelemetry,
  type DeviceState,
  freshState,
  LAST_SEEN,
  lastSeen,
  METRIC_TS,
  reviveState,
  toStatus,
} from './state.ts';
import type {
  DeviceEventSink,
  DeviceMessage,
  DeviceStatus,
  DeviceStatusSink,
  DeviceTransition,
} from './types.ts';

export const DEVICE_KIND = 'device';

export const DEFAULT_OFFLINE_AFTER_MS = 10 * 60_000;
export const DEFAULT_SNAPSHOT_EVERY_MS = 60_000;
export const DEFAULT_MAX_METRICS = 100;

export interface DeviceActorOptions {
  /** Silence after which an online device is declared offline. Default 10 minutes. */
  readonly offlineAfterMs?: number;
  /**
   * How often a changed status is saved (ctx.save) and handed to the status sink. Default 60 s;
   * 0 turns periodic snapshots off (transitions and passivation still save).
   */
  readonly snapshotEveryMs?: number;
  /** Online/offline transitions go here, synchronously, from the actor's turn. */
  readonly events: DeviceEventSink;
  /** Status fields for the devices table (batched by the sink). */
  readonly statusSink?: DeviceStatusSink;
  /** Clock (ms since the epoch). Default Date.now, read at each call. */
  readonly now?: () => number;
  /** Distinct metrics kept per device (the least recently updated make room). Default 100. */
  readonly maxMetrics?: number;
  /** Idle passivation for this kind; the runtime's default when omitted. */
  readonly idleTimeoutMs?: number;
  /** Evaluates alert rules on the device's readings (actors/rules); none when omitted. */
  readonly rules?: DeviceRuleEngine;
}

/** The one timer of an activation and the message it delivers (one object for all devices). */
const TIMER = 'silence';
const CHECK: DeviceMessage = Object.freeze({ type: 'checkOffline' });
const RULES_TIMER = 'rules';
const RULES_TICK: DeviceMessage = Object.freeze({ type: 'rulesTick' });
const RULES_REFRESH: DeviceMessage = Object.freeze({ type: 'rulesRefresh' });
/** Durable wake-ups: a pending `for` ending, and whatever is due after a passivation. */
const FOR_REMINDER = 'rule-for';
const WAKE_REMINDER = 'rule-wake';
const RULES_RETRY_MS = 5_000;

/** `device/{tenantId}:{deviceKey}`. Tenant ids never contain ':'; device keys may. */
export function deviceActorId(tenantId: string, deviceKey: string): ActorId {
  if (tenantId.length === 0 || tenantId.includes(':')) {
    throw new RangeError(`tenant id '${tenantId}' must be non-empty and contain no ':'`);
  }
  return actorId(DEVICE_KIND, `${tenantId}:${deviceKey}`);
}

/** Splits an actor key `{tenantId}:{deviceKey}` at its first ':'. */
export function splitDeviceKey(key: string): { tenantId: string; deviceKey: string } {
  const colon = key.indexOf(':');
  if (colon <= 0) return { tenantId: '', deviceKey: key };
  return { tenantId: key.slice(0, colon), deviceKey: key.slice(colon + 1) };
}

/** At most one log line per `everyMs` for a kind of failure, with the count of those skipped. */
class ThrottledWarning {
  private last = Number.NEGATIVE_INFINITY;
  private skipped = 0;

  constructor(
    private readonly message: string,
    private readonly everyMs = 10_000,
  ) {}

  warn(log: Logger, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.last < this.everyMs) {
      this.skipped++;
      return;
    }
    this.last = now;
    const skipped = this.skipped;
    this.skipped = 0;
    log.warn({ ...fields, alsoSkipped: skipped }, this.message);
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`device actor: ${name} must be a positive number, got ${value}`);
  }
  return value;
}

/**
 * Builds the `device` actor type. Every handler is synchronous.
 *
 * - `telemetry`: records the last value and time per metric (an older reading of a metric is
 *   ignored), last seen (the newest receive time) and the message count; a device that was
 *   offline or never seen comes online (transition, reason 'telemetry'). The common case touches
 *   no timer and no store; only a transition arms the timer and takes a snapshot.
 * - `status`: the DeviceStatus, from memory (the actor is the cache).
 * - one timer per activation, never re-armed per message. While the device is online it fires
 *   at the earlier of the snapshot period and the silence deadline; the deadline is
 *   `offlineAfterMs` after the later of last seen and the activation's start, so after a
 *   restart, a rebalance or a reactivation a device gets a full silence period on its new
 *   activation before it can be declared offline, however old its stored last seen is. When it
 *   fires: offline if silent long enough (transition, reason 'silence'), a snapshot if anything
 *   changed, then re-armed for what is left. An offline, unchanged device has no timer.
 * - snapshots: the state itself (compact JSON, see state.ts), saved with ctx.save() when it has
 *   changed, at every transition (so a restart does not repeat one) and by the runtime on
 *   passivation. Saves are not awaited by the turn. A failed save is logged (throttled) and
 *   retried at the next firing; it never restarts the actor, whose in-memory status is the
 *   newest there is. A stale epoch (another node owns the device now) passivates it.
 */
export function createDeviceActor(options: DeviceActorOptions) {
  const offlineAfterMs = positive(
    'offlineAfterMs',
    options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS,
  );
  const snapshotEveryMs = options.snapshotEveryMs ?? DEFAULT_SNAPSHOT_EVERY_MS;
  if (snapshotEveryMs !== 0) positive('snapshotEveryMs', snapshotEveryMs);
  const maxMetrics = options.maxMetrics ?? DEFAULT_MAX_METRICS;
  if (!Number.isSafeInteger(maxMetrics) || maxMetrics < 1) {
    throw new RangeError(`device actor: maxMetrics must be an integer >= 1, got ${maxMetrics}`);
  }
  const events = options.events;
  const statusSink = options.statusSink;
  const clock = options.now ?? (() => Date.now());
  /** Longest wait between two firings of an online device's timer. */
  const period = snapshotEveryMs > 0 ? Math.min(snapshotEveryMs, offlineAfterMs) : offlineAfterMs;

  const saveFailed = new ThrottledWarning('device snapshot not saved; retrying next period');
  const eventFailed = new ThrottledWarning('device transition sink failed');
  const sinkFailed = new ThrottledWarning('device status sink failed');
  const badSnapshot = new ThrottledWarning('device snapshot unreadable; starting empty');

  type Ctx = ActorContext<DeviceState, DeviceMessage>;

  /** Time left until the device may be declared offline (<= 0: now). */
  function silenceLeft(s: DeviceState, now: number): number {
    const t = s.t;
    const quietSince = s.n === 0 ? t[ACTIVATED_AT]! : Math.max(t[LAST_SEEN]!, t[ACTIVATED_AT]!);
    return quietSince + offlineAfterMs - now;
  }

  function emit(ctx: Ctx, online: boolean, at: number, reason: DeviceTransition['reason']): void {
    const { tenantId, deviceKey } = splitDeviceKey(ctx.key);
    try {
      events.transition({ tenantId, deviceKey, online, at, reason });
    } catch (err) {
      eventFailed.warn(ctx.log, { actor: ctx.id, online, err: String(err) });
    }
  }

  function publish(ctx: Ctx): void {
    if (statusSink === undefined) return;
    const s = ctx.state;
    const { tenantId, deviceKey } = splitDeviceKey(ctx.key);
    const d = deriveStatus(s.k, s.v, s.t, METRIC_TS);
    try {
      statusSink.update({
        tenantId,
        deviceKey,
        online: s.on,
        lastSeen: lastSeen(s),
        battery: d.battery,
        firmware: d.firmware,
        rssi: d.rssi,
        snr: d.snr,
      });
    } catch (err) {
      sinkFailed.warn(ctx.log, { actor: ctx.id, err: String(err) });
    }
  }

  /** Activations with a snapshot save in flight (an entry lives only while the save does). */
  const saving = new WeakSet<Ctx>();
  /** Activations that changed something that must not wait for the next period to be saved. */
  const resave = new WeakSet<Ctx>();
  const rules = options.rules;
  /** Rule evaluation memory of each activation whose tenant has rules. */
  const memories = new WeakMap<Ctx, RuleRuntime>();
  const rulesFailed = new ThrottledWarning('device rules not evaluated; retrying');

  /**
   * Snapshot now: the status sink, then ctx.save() without waiting for it, so the device's
   * mailbox never waits behind the store (a queue behind a turn also costs the activation a
   * mailbox ring it keeps for life). One save in flight per activation: while one is, the state
   * stays dirty and the next firing of the timer saves it.
   */
  function snapshot(ctx: Ctx): void {
    if (saving.has(ctx)) return;
    const s = ctx.state;
    s.dirty = false;
    captureRules(ctx);
    publish(ctx);
    saving.add(ctx);
    ctx.save().then(
      () => {
        saving.delete(ctx);
        if (resave.has(ctx)) {
          resave.delete(ctx);
          snapshot(ctx);
        }
      },
      (err: unknown) => {
        saving.delete(ctx);
        s.dirty = true;
        saveFailed.warn(ctx.log, {
          actor: ctx.id,
          err: err instanceof Error ? err.message : String(err),
        });
        // Another node has claimed the device: this activation must go (its messages follow).
        if (err instanceof StaleEpochError) ctx.deactivate();
      },
    );
  }

  /** Copies the rule memory into the state that is about to be saved. */
  function captureRules(ctx: Ctx): void {
    const rt = memories.get(ctx);
    if (rt !== undefined) ctx.state.x = rt.memory.toJSON();
  }

  /** Saves soon: now if no save is in flight, else right after it. */
  function saveSoon(ctx: Ctx): void {
    ctx.state.dirty = true;
    if (saving.has(ctx)) resave.add(ctx);
    else snapshot(ctx);
  }

  function send(ctx: Ctx, outgoing: readonly Outgoing[]): void {
    for (const o of outgoing) {
      try {
        ctx.tell(o.to, o.message);
      } catch (err) {
        // Kept as unacknowledged: re-sent by the next tick.
        rulesFailed.warn(ctx.log, { actor: ctx.id, to: o.to, err: String(err) });
      }
    }
  }

  /** One evaluation of the device's rules (a reading, or a tick when metrics is undefined). */
  function runRules(
    ctx: Ctx,
    rt: RuleRuntime,
    metrics: Readonly<Record<string, unknown>> | undefined,
    receivedAt: number,
  ): void {
    if (rules === undefined) return;
    const now = clock();
    const outcome = rules.evaluate(rt.memory, metrics, receivedAt, now);
    send(ctx, outcome.outgoing);
    if (metrics === undefined) send(ctx, rules.due(rt.memory, now));
    if (outcome.changed) saveSoon(ctx);
    if (outcome.wakeAt !== rt.wakeAt) {
      rt.wakeAt = outcome.wakeAt;
      if (outcome.wakeAt === undefined) ctx.clearTimer(RULES_TIMER);
      else ctx.setTimer(RULES_TIMER, Math.max(0, outcome.wakeAt - now), RULES_TICK);
    }
    if (outcome.forDeadline !== rt.forDeadline) {
      rt.forDeadline = outcome.forDeadline;
      const done =
        outcome.forDeadline === undefined
          ? ctx.clearReminder(FOR_REMINDER)
          : ctx.setReminder(FOR_REMINDER, { at: outcome.forDeadline });
      done.catch((err: unknown) => rulesFailed.warn(ctx.log, { actor: ctx.id, err: String(err) }));
    }
  }

  /** Loads the rule memory of an activation (profile from the database), then evaluates. */
  async function startRules(ctx: Ctx): Promise<void> {
    if (rules === undefined || memories.has(ctx)) return;
    const { tenantId, deviceKey } = splitDeviceKey(ctx.key);
    try {
      const memory = await rules.activate(tenantId, deviceKey, ctx.state.x, clock());
      if (memory.history.seq === 0) {
        // First rules for this device: start from the values it holds already.
        const s = ctx.state;
        for (let i = 0; i < s.k.length; i++) {
          memory.history.record({ [s.k[i]!]: s.v[i] }, s.t[METRIC_TS + i]!);
        }
      }
      const rt: RuleRuntime = { memory, wakeAt: undefined, forDeadline: undefined };
      memories.set(ctx, rt);
      runRules(ctx, rt, undefined, clock());
    } catch (err) {
      rulesFailed.warn(ctx.log, { actor: ctx.id, err: String(err) });
      ctx.setTimer(RULES_TIMER, RULES_RETRY_MS, RULES_REFRESH);
    }
  }

  return defineActor<DeviceState, DeviceMessage>()({
    kind: DEVICE_KIND,
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),

    initialState: () => freshState(clock()),

    onActivate(ctx) {
      const now = clock();
      const stored: unknown = ctx.state;
      let s = reviveState(stored, now);
      if (s === undefined) {
        badSnapshot.warn(ctx.log, { actor: ctx.id });
        s = freshState(now);
      }
      ctx.state = s;
      // Startup grace: a full silence period from now, whatever the stored last seen says.
      if (s.on) ctx.setTimer(TIMER, period, CHECK);
      if (rules?.applies(splitDeviceKey(ctx.key).tenantId)) {
        return startRules(ctx);
      }
    },

    onReminder(ctx) {
      const rt = memories.get(ctx);
      if (rt !== undefined) runRules(ctx, rt, undefined, clock());
      else if (rules !== undefined) return startRules(ctx);
    },

    onDeactivate(ctx) {
      const rt = memories.get(ctx);
      let wake: Promise<void> | undefined;
      if (rt !== undefined) {
        captureRules(ctx);
        // Timers die with the activation: something due later must wake the device again.
        if (rt.wakeAt !== undefined) wake = ctx.setReminder(WAKE_REMINDER, { at: rt.wakeAt });
      }
      if (ctx.state.dirty) {
        ctx.state.dirty = false;
        publish(ctx);
      }
      return wake;
    },

    handlers: {
      telemetry(ctx, m) {
        if (!Number.isFinite(m.ts) || !Number.isFinite(m.receivedAt)) {
          throw new Rejection(
            `telemetry.ts/receivedAt: ${m.ts}/${m.receivedAt} must be finite times (ms)`,
            'invalid-telemetry',
          );
        }
        if (typeof m.metrics !== 'object' || m.metrics === null) {
          throw new Rejection('telemetry.metrics: must be an object', 'invalid-telemetry');
        }
        const s = ctx.state;
        applyTelemetry(s, m.ts, m.metrics, m.receivedAt, maxMetrics);
        if (rules !== undefined) {
          const rt = memories.get(ctx);
          if (rt !== undefined) runRules(ctx, rt, m.metrics, m.receivedAt);
          else if (rules.applies(splitDeviceKey(ctx.key).tenantId)) ctx.tell(ctx.id, RULES_REFRESH);
        }
        if (s.on) return;
        // Came online: the only telemetry that touches the timer or the store.
        s.on = true;
        emit(ctx, true, m.receivedAt, 'telemetry');
        ctx.setTimer(TIMER, Math.max(0, Math.min(period, silenceLeft(s, clock()))), CHECK);
        snapshot(ctx);
      },

      rulesTick(ctx) {
        const rt = memories.get(ctx);
        if (rt !== undefined) {
          rt.wakeAt = undefined;
          runRules(ctx, rt, undefined, clock());
        }
      },

      rulesRefresh(ctx) {
        return startRules(ctx);
      },

      ruleAck(ctx, m) {
        const rt = memories.get(ctx);
        if (rt !== undefined && rules?.acknowledge(rt.memory, m.ruleId, m.seq) === true) {
          ctx.state.dirty = true;
        }
      },

      async profileChanged(ctx) {
        const rt = memories.get(ctx);
        if (rt === undefined || rules === undefined) return startRules(ctx);
        await rules.reloadProfile(rt.memory);
        runRules(ctx, rt, undefined, clock());
      },

      status(ctx): DeviceStatus {
        const { tenantId, deviceKey } = splitDeviceKey(ctx.key);
        return toStatus(ctx.state, tenantId, deviceKey);
      },

      checkOffline(ctx) {
        const s = ctx.state;
        const now = clock();
        let next = -1;
        if (s.on) {
          const left = silenceLeft(s, now);
          if (left <= 0) {
            s.on = false;
            s.dirty = true;
            emit(ctx, false, now, 'silence');
          } else {
            next = Math.min(period, left);
          }
        }
        if (!s.dirty) {
          if (next >= 0) ctx.setTimer(TIMER, next, CHECK);
          return;
        }
        // Saving: come back after a period even if offline, to retry should the save fail.
        ctx.setTimer(TIMER, next >= 0 ? next : period, CHECK);
        snapshot(ctx);
      },
    },
  });
}

export type DeviceActorDefinition = ReturnType<typeof createDeviceActor>;

/** Rule evaluation of one activation: the memory and the wake-ups armed for it. */
interface RuleRuntime {
  readonly memory: DeviceRuleMemory;
  wakeAt: number | undefined;
  forDeadline: number | undefined;
}

/** What can ask an actor (an ActorSystem, or anything routing like one). */
export interface StatusAsker {
  ask<R = unknown, M extends Message = Message>(
    target: ActorId,
    message: M,
    options?: AskOptions,
  ): Promise<R>;
}

const STATUS: DeviceMessage = Object.freeze({ type: 'status' });

/** The status of one device (activating it if it is not resident). */
export function deviceStatus(
  system: StatusAsker,
  tenantId: string,
  deviceKey: string,
  options?: AskOptions,
): Promise<DeviceStatus> {
  return system.ask<DeviceStatus>(deviceActorId(tenantId, deviceKey), STATUS, options);
}

/**
 * Statuses of a page of devices, asked in parallel, in the order of `deviceKeys`. A device that
 * does not answer (timeout, failure) is null in the result instead of failing the whole page.
 */
export async function deviceStatuses(
  system: StatusAsker,
  tenantId: string,
  deviceKeys: readonly string[],
  options?: AskOptions,
): Promise<Array<DeviceStatus | null>> {
  const settled = await Promise.allSettled(
    deviceKeys.map((key) => deviceStatus(system, tenantId, key, options)),
  );
  return settled.map((r) => (r.status === 'fulfilled' ? r.value : null));
}

/** What can tell an actor (an ActorSystem, or anything routing like one). */
export interface DeviceTeller {
  tell<M extends Message>(target: ActorId, message: M): void;
}

/**
 * Activates devices so their silence is watched. A device is otherwise activated only by its
 * next message, so after a node start or a rebalance one that never sends again would never be
 * declared offline. Call it at start (and after taking over identities) with the devices whose
 * stored status is online, e.g. `devices.status = 'online'`, which the status sink keeps: each
 * gets a full silence period from now (the startup grace), then goes offline if still silent.
 * Waking a device that is already active or offline is harmless. Returns how many were told;
 * a device that cannot be told now (mailbox full, system stopping) is skipped.
 */
export function wakeDevices(
  system: DeviceTeller,
  tenantId: string,
  deviceKeys: Iterable<string>,
): number {
  let told = 0;
  for (const key of deviceKeys) {
    try {
      system.tell(deviceActorId(tenantId, key), CHECK);
      told++;
    } catch {
      // Counted by the caller from the return value; the next start or message catches up.
    }
  }
  return told;
}
