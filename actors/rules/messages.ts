import type { Severity } from './model.ts';

/** Rule actor identity: `rule/{tenantId}:{ruleId}`. */
export const RULE_KIND = 'rule';

/**
 * A device's breach state for one rule (docs/alerting.md, decision 2): idempotent, ordered by
 * `seq` (monotonic per device and rule even across lost device state: it is clock-based), and
 * re-sent until acknowledged.
 */
export interface RuleReport {
  readonly type: 'report';
  readonly deviceKey: string;
  readonly seq: number;
  /** When the device started or stopped breaching (evaluation time). */
  readonly at: number;
  readonly breaching: boolean;
  readonly severity: Severity;
  readonly values: Readonly<Record<string, unknown>>;
  /** Why it stopped: the clear condition, or silence (auto-resolve). */
  readonly reason?: 'condition' | 'auto-resolve';
  /** What maintenance and inhibition matching need to know of the device. */
  readonly groups: readonly string[];
  readonly tags: readonly string[];
  readonly gateway: string | null;
}

export type RuleMessage =
  | RuleReport
  /** Internal: apply the reports received since the last flush. */
  | { readonly type: 'flush' }
  /** Internal: the rule's next time-based change is due (schedule, window, aggregate expiry). */
  | { readonly type: 'wake' }
  /** The rule was changed, disabled or deleted (sent by every node's catalogue). */
  | { readonly type: 'ruleChanged' }
  /** An inhibiting alert opened or resolved: re-check suppression of open alerts. */
  | { readonly type: 'inhibitionChanged' }
  /** Diagnostics and tests: what the actor holds. */
  | { readonly type: 'inspect' };

/** Sent back to the device actor once a report's effect is committed. */
export interface RuleAck {
  readonly type: 'ruleAck';
  readonly ruleId: string;
  readonly seq: number;
}
