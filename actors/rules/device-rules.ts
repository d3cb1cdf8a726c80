/**
 * The device side of rule evaluation (docs/alerting.md, decisions 1-3): per device, the metric
 * history the rules read, each applicable rule's evaluation state, and the newest report per
 * rule that the rule actor has not acknowledged yet. The device actor owns one DeviceRuleMemory
 * per activation and calls the engine from its turns; everything here is synchronous except
 * loading the device's profile (groups, tags, attributes) on activation.
 */
import { Counter, type Registry } from 'prom-client';
import type { DeviceProfile } from '../../db/devices/profiles.ts';
import type { RuleCatalog } from './catalog.ts';
import {
  type CompiledRule,
  type DeviceView,
  MetricHistory,
  mergeHistoryWindows,
  type RuleEvalState,
  stepRule,
} from './eval/index.ts';
import type { RuleReport } from './messages.ts';
import type { Scalar, Severity } from './model.ts';
import { ruleActorId } from './rule-actor.ts';

/** Unacknowledged reports are sent again after this long. */
export const REPORT_RETRY_MS = 5_000;

interface Slot {
  /** Rule version the state belongs to. */
  v: number;
  e: RuleEvalState;
  /** The newest report, kept until acknowledged (null once acknowledged). */
  rep: RuleReport | null;
  /** When rep was last sent. */
  sentAt: number;
}

/** What the device actor persists (inside its state, as `x`). */
export interface DeviceRulesJSON {
  readonly h: unknown;
  readonly s: Readonly<Record<string, { v: number; e: RuleEvalState; rep: RuleReport | null }>>;
  /** Last report sequence used. */
  readonly q: number;
}

export interface ProfileSource {
  load(tenantId: string, key: string): Promise<DeviceProfile>;
}

/** A message for another actor, produced by an evaluation. */
export interface Outgoing {
  readonly to: ReturnType<typeof ruleActorId>;
  readonly message: RuleReport;
}

export interface EvaluationOutcome {
  readonly outgoing: readonly Outgoing[];
  /** The state worth saving changed (a rule changed phase or a report is pending). */
  readonly changed: boolean;
  /** When the device should evaluate again without a reading (undefined: no need). */
  readonly wakeAt: number | undefined;
  /** Earliest end of a pending `for` (a durable reminder keeps it across crashes). */
  readonly forDeadline: number | undefined;
}

export class DeviceRuleMemory {
  profile: DeviceProfile | undefined;
  catalogVersion = -1;
  rules: CompiledRule[] = [];
  readonly slots = new Map<string, Slot>();
  seq = 0;

  constructor(
    readonly tenantId: string,
    readonly deviceKey: string,
    public history: MetricHistory,
    readonly activatedAt: number,
  ) {}

  toJSON(): DeviceRulesJSON {
    const s: Record<string, { v: number; e: RuleEvalState; rep: RuleReport | null }> = {};
    for (const [id, slot] of this.slots) s[id] = { v: slot.v, e: slot.e, rep: slot.rep };
    return { h: this.history.toJSON(), s, q: this.seq };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface DeviceRuleEngineOptions {
  readonly catalog: RuleCatalog;
  readonly profiles: ProfileSource;
  readonly registry?: Registry;
  readonly now?: () => number;
}

export class DeviceRuleEngine {
  readonly catalog: RuleCatalog;
  private readonly profiles: ProfileSource;
  private readonly reports: Counter | undefined;
  /** Plain counters, read into prom-client at scrape time. */
  private evaluated = 0;

  constructor(options: DeviceRuleEngineOptions) {
    this.catalog = options.catalog;
    this.profiles = options.profiles;
    if (options.registry !== undefined) {
      const self = this;
      new Counter({
        name: 'gito_rule_evaluations_total',
        help: 'Rule evaluations on devices (one rule, one reading or tick)',
        registers: [options.registry],
        collect() {
          this.reset();
          this.inc(self.evaluated);
        },
      });
      this.reports = new Counter({
        name: 'gito_rule_reports_total',
        help: 'Breach state reports sent from devices to rule actors, by state',
        labelNames: ['state'],
        registers: [options.registry],
      });
    }
  }

  /** Does the tenant have any rule (so the device needs its profile and memory)? */
  applies(tenantId: string): boolean {
    return this.catalog.hasRules(tenantId);
  }

  /** Builds the memory of an activation from what was stored (`x`), loading the profile. */
  async activate(tenantId: string, deviceKey: string, stored: unknown, now: number) {
    const memory = this.restore(tenantId, deviceKey, stored, now);
    memory.profile = await this.profiles.load(tenantId, deviceKey);
    this.resolveRules(memory);
    return memory;
  }

  /** Re-reads the profile (groups, tags or attributes changed). */
  async reloadProfile(memory: DeviceRuleMemory): Promise<void> {
    memory.profile = await this.profiles.load(memory.tenantId, memory.deviceKey);
    memory.catalogVersion = -1;
  }

  restore(tenantId: string, deviceKey: string, stored: unknown, now: number): DeviceRuleMemory {
    let history: MetricHistory | undefined;
    const memory = new DeviceRuleMemory(tenantId, deviceKey, new MetricHistory(now), now);
    if (isRecord(stored)) {
      try {
        history = MetricHistory.fromJSON(stored.h);
      } catch {
        history = undefined;
      }
      if (history !== undefined) memory.history = history;
      if (typeof stored.q === 'number' && Number.isFinite(stored.q)) memory.seq = stored.q;
      if (isRecord(stored.s)) {
        for (const [id, raw] of Object.entries(stored.s)) {
          if (!isRecord(raw) || typeof raw.v !== 'number' || !isRecord(raw.e)) continue;
          memory.slots.set(id, {
            v: raw.v,
            e: raw.e as unknown as RuleEvalState,
            rep: isRecord(raw.rep) ? (raw.rep as unknown as RuleReport) : null,
            sentAt: 0,
          });
        }
      }
    }
    return memory;
  }

  /** Picks up rule changes: which rules apply now, and the history each needs. */
  private resolveRules(memory: DeviceRuleMemory): void {
    const profile = memory.profile;
    if (profile === undefined) return;
    memory.catalogVersion = this.catalog.version;
    memory.rules = this.catalog.rulesFor(memory.tenantId, profile);
    memory.history.setWindows(mergeHistoryWindows(memory.rules));
  }

  /**
   * Evaluates every applicable rule after a reading (`metrics` recorded at `receivedAt`) or on a
   * tick (`metrics` undefined). Reports of rules that no longer apply to the device are
   * withdrawn (a not-breaching report) so their alerts resolve.
   */
  evaluate(
    memory: DeviceRuleMemory,
    metrics: Readonly<Record<string, unknown>> | undefined,
    receivedAt: number,
    now: number,
  ): EvaluationOutcome {
    if (memory.catalogVersion !== this.catalog.version) this.resolveRules(memory);
    if (metrics !== undefined) memory.history.record(metrics, receivedAt);
    const attributes = memory.profile?.attributes as Readonly<Record<string, Scalar>> | undefined;
    const view: DeviceView = {
      history: memory.history,
      attributes,
      silenceFrom: memory.activatedAt,
    };
    const outgoing: Outgoing[] = [];
    let changed = false;
    let wakeAt: number | undefined;
    let forDeadline: number | undefined;
    const live = new Set<string>();
    for (const rule of memory.rules) {
      const id = rule.rule.id;
      live.add(id);
      let slot = memory.slots.get(id);
      if (slot !== undefined && slot.v !== rule.rule.version) slot.v = rule.rule.version;
      const before = slot?.e;
      const result = stepRule(rule, before, view, now);
      this.evaluated++;
      if (slot === undefined) {
        slot = { v: rule.rule.version, e: result.state, rep: null, sentAt: 0 };
        memory.slots.set(id, slot);
      } else {
        slot.e = result.state;
      }
      if (
        before === undefined ||
        before.firing !== result.state.firing ||
        (before.pendingSince === null) !== (result.state.pendingSince === null) ||
        (rule.count > 1 && before.consecutive !== result.state.consecutive)
      ) {
        changed = true;
      }
      const event = result.event;
      if (event !== undefined) {
        const breaching = event.type !== 'clear';
        const severity: Severity = result.state.severity ?? slot.rep?.severity ?? 'info';
        slot.rep = this.report(memory, {
          breaching,
          at: now,
          severity,
          values: event.type === 'clear' ? {} : event.values,
          ...(event.type === 'clear' ? { reason: event.reason } : {}),
        });
        slot.sentAt = now;
        outgoing.push({ to: ruleActorId(memory.tenantId, id), message: slot.rep });
        this.reports?.inc({ state: breaching ? 'breaching' : 'clear' });
        changed = true;
      }
      if (result.wakeAt !== undefined && (wakeAt === undefined || result.wakeAt < wakeAt)) {
        wakeAt = result.wakeAt;
      }
      const s = result.state;
      if (!s.firing && s.pendingSince !== null && rule.forMs > 0) {
        const end = s.pendingSince + rule.forMs;
        if (forDeadline === undefined || end < forDeadline) forDeadline = end;
      }
    }
    // Rules that stopped applying (deleted, disabled, scope changed): withdraw their breach.
    for (const [id, slot] of memory.slots) {
      if (live.has(id)) continue;
      memory.slots.delete(id);
      changed = true;
      if (slot.e.firing || slot.rep?.breaching === true) {
        const rep = this.report(memory, {
          breaching: false,
          at: now,
          severity: slot.rep?.severity ?? 'info',
          values: {},
          reason: 'condition',
        });
        outgoing.push({ to: ruleActorId(memory.tenantId, id), message: rep });
      }
    }
    const retry = this.unacknowledged(memory) ? now + REPORT_RETRY_MS : undefined;
    if (retry !== undefined && (wakeAt === undefined || retry < wakeAt)) wakeAt = retry;
    return { outgoing, changed, wakeAt, forDeadline };
  }

  /** Reports not acknowledged within REPORT_RETRY_MS, to send again (marks them sent). */
  due(memory: DeviceRuleMemory, now: number): Outgoing[] {
    const out: Outgoing[] = [];
    for (const [id, slot] of memory.slots) {
      if (slot.rep === null || now - slot.sentAt < REPORT_RETRY_MS) continue;
      slot.sentAt = now;
      out.push({ to: ruleActorId(memory.tenantId, id), message: slot.rep });
    }
    return out;
  }

  /** The rule actor committed report `seq`: stop re-sending it. */
  acknowledge(memory: DeviceRuleMemory, ruleId: string, seq: number): boolean {
    const slot = memory.slots.get(ruleId);
    if (slot === undefined || slot.rep === null || slot.rep.seq !== seq) return false;
    slot.rep = null;
    return true;
  }

  unacknowledged(memory: DeviceRuleMemory): boolean {
    for (const slot of memory.slots.values()) if (slot.rep !== null) return true;
    return false;
  }

  private report(
    memory: DeviceRuleMemory,
    fields: Pick<RuleReport, 'breaching' | 'at' | 'severity' | 'values' | 'reason'>,
  ): RuleReport {
    // Clock-based so it keeps growing even if the device's stored state was lost.
    memory.seq = Math.max(memory.seq + 1, fields.at);
    const profile = memory.profile;
    const gateway = profile?.attributes.gateway;
    return {
      type: 'report',
      deviceKey: memory.deviceKey,
      seq: memory.seq,
      ...fields,
      groups: profile?.groups ?? [],
      tags: profile?.tags ?? [],
      gateway: typeof gateway === 'string' ? gateway : null,
    };
  }
}
