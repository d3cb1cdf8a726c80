/**
 * The rule format: what users write (JSON, validated by rule.schema.json and validateRule) and
 * what every part of the alerting core reads. docs/rules.md documents it with examples.
 *
 * Durations are strings: `<integer><unit>` with unit ms, s, m, h or d ("90s", "10m", "1h").
 */

export type Duration = string;

export type Severity = 'critical' | 'major' | 'minor' | 'warning' | 'info';
/** Most severe first; index = rank (lower is more severe). */
export const SEVERITIES: readonly Severity[] = ['critical', 'major', 'minor', 'warning', 'info'];

export type Scalar = number | string | boolean;

/** A threshold read from the device's attributes, with a default when the device has none. */
export interface AttributeRef {
  readonly attribute: string;
  readonly default: Scalar;
}
export type Operand = Scalar | AttributeRef;

export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

export type Condition =
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition }
  /** Numeric, string or boolean comparison of the metric's latest value. */
  | { readonly metric: string; readonly op: CompareOp; readonly value: Operand }
  /** Inclusive range (`between`) or its complement (`outside`). */
  | {
      readonly metric: string;
      readonly op: 'between' | 'outside';
      readonly low: Operand;
      readonly high: Operand;
    }
  | { readonly metric: string; readonly op: 'in' | 'not_in'; readonly values: readonly Scalar[] }
  /** The latest reading differs from the one before it. */
  | { readonly metric: string; readonly op: 'changed' }
  /** latest - (oldest value within `window`) compared with `value` (`abs: true` uses |delta|). */
  | {
      readonly metric: string;
      readonly op: 'delta';
      readonly window: Duration;
      readonly cmp: CompareOp;
      readonly value: Operand;
      readonly abs?: boolean;
    }
  /** Rate of change per `per` (default 1m) between the two latest readings, compared with value. */
  | {
      readonly metric: string;
      readonly op: 'rate';
      readonly per?: Duration;
      readonly cmp: CompareOp;
      readonly value: Operand;
      readonly abs?: boolean;
    }
  /** No reading of `metric` (or of anything, when metric is omitted) for `for`. */
  | { readonly metric?: string; readonly op: 'missing'; readonly for: Duration };

export type Scope =
  | { readonly type: 'device'; readonly device: string }
  | { readonly type: 'devices'; readonly devices: readonly string[] }
  | { readonly type: 'group'; readonly group: string }
  /** Devices carrying all of `all` and at least one of `any` (either may be omitted, not both). */
  | { readonly type: 'tags'; readonly all?: readonly string[]; readonly any?: readonly string[] }
  | { readonly type: 'tenant' };

/** Severity: fixed, by value bands (first matching band wins), and escalating with time. */
export type SeveritySpec =
  | Severity
  | {
      readonly default: Severity;
      readonly bands?: readonly { readonly when: Condition; readonly severity: Severity }[];
      /** While the alert stays open: after `after`, raise to `severity` (never lowers). */
      readonly escalate?: readonly { readonly after: Duration; readonly severity: Severity }[];
    };

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** When a rule is active. Times are wall-clock `HH:MM` in `timezone` (IANA). */
export interface Schedule {
  readonly timezone: string;
  /** A period with `to` <= `from` crosses midnight (22:00-06:00 belongs to the day it starts). */
  readonly periods: readonly {
    readonly days: readonly Weekday[];
    readonly from: string;
    readonly to: string;
  }[];
  /**
   * Local dates `YYYY-MM-DD` on which no period starts (holidays). A period crossing midnight
   * belongs to the date it starts on (docs/schedules.md).
   */
  readonly excludeDates?: readonly string[];
}

export interface AggregateSpec {
  /** Fire when at least this many devices of the scope breach ... */
  readonly minDevices?: number;
  /** ... or at least this percent of the devices in scope (one of the two is required). */
  readonly minPercent?: number;
  /** A device counts while it breaches and for `window` after its last breach. */
  readonly window: Duration;
  /**
   * Resolve when the count falls below this (default: the firing threshold). In devices when
   * minDevices is given, else in percent; never above the firing threshold.
   */
  readonly clearBelow?: number;
}

export interface FlappingSpec {
  /** More than this many open/clear transitions within `window` marks the alert flapping. */
  readonly maxTransitions: number;
  readonly window: Duration;
}

export interface InhibitSpec {
  /** Rule ids whose alerts this rule's open alert suppresses. */
  readonly rules: readonly string[];
  /**
   * Which of their alerts: 'same-device' (alert on the same device), 'behind' (devices whose
   * attribute `gateway` equals this alert's device key), or 'all' (every alert of those rules).
   */
  readonly match: 'same-device' | 'behind' | 'all';
}

export interface RuleDefinition {
  readonly name: string;
  readonly description?: string;
  readonly enabled?: boolean;
  readonly scope: Scope;
  /** The per-device trigger condition. */
  readonly condition: Condition;
  /** Resolves an open alert; default `{ not: condition }`. */
  readonly clear?: Condition;
  /** The condition must hold continuously this long before firing. */
  readonly for?: Duration;
  /**
   * ... and for this many consecutive readings (of the metrics the rule reads; timer ticks do
   * not count). Omitted: no count requirement.
   */
  readonly count?: number;
  /** Resolve an open alert when the device sends nothing for this long. */
  readonly autoResolveAfter?: Duration;
  readonly severity: SeveritySpec;
  readonly schedule?: Schedule;
  /** Present: one alert for the rule over the whole scope instead of one per device. */
  readonly aggregate?: AggregateSpec;
  readonly flapping?: FlappingSpec;
  readonly inhibits?: InhibitSpec;
  /** Escalation policy id; the tenant's default by severity when omitted. */
  readonly escalationPolicy?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A stored rule: its definition plus identity and version (bumped on every change). */
export interface Rule extends RuleDefinition {
  readonly id: string;
  readonly tenantId: string;
  readonly version: number;
}

/** A maintenance window (its own resource): matching alerts are recorded but notify no one. */
export interface MaintenanceWindow {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly scope: Scope;
  /** Only alerts of these rules (all rules when omitted). */
  readonly rules?: readonly string[];
  /** First occurrence start, ISO 8601 with offset. */
  readonly start: string;
  /** Length of each occurrence. */
  readonly duration: Duration;
  /** RFC 5545 RRULE (without DTSTART) for recurring windows; one-off when omitted. */
  readonly rrule?: string;
  /** IANA zone the recurrence is expanded in (so "every Sunday 02:00" survives DST). */
  readonly timezone?: string;
}
