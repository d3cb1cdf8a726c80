/**
 * Inhibition (InhibitSpec in ../model.ts; docs/schedules.md): an open alert of a rule that
 * declares `inhibits` suppresses matching alerts of the rules it names, e.g. a gateway-offline
 * alert suppresses the offline alerts of the devices behind that gateway.
 *
 * Only open, unsuppressed alerts inhibit: an alert that is itself suppressed (inhibited, in
 * maintenance, flapping) does not pass suppression on, so two rules that inhibit each other
 * cannot silence both their alerts: the one open first wins. Evaluation is within one tenant
 * (rule ids and device keys are the tenant's; the caller passes only that tenant's alerts), and
 * when an inhibiting alert resolves the caller re-evaluates the alerts it inhibited (the rule
 * actor's job): those still open and not inhibited by another alert are released and notify.
 */
import type { InhibitSpec } from '../model.ts';

/** An open, unsuppressed alert that may inhibit others. */
export interface InhibitingAlert {
  readonly ruleId: string;
  /** Absent for an aggregate rule's alert: it can only inhibit with match 'all'. */
  readonly deviceKey?: string;
  /** The alert's rule's `inhibits`; absent when the rule inhibits nothing. */
  readonly inhibits?: InhibitSpec;
}

/** An alert that is about to open (or be re-evaluated). */
export interface InhibitionCandidate {
  readonly ruleId: string;
  /** Absent for an aggregate rule's alert: only match 'all' reaches it. */
  readonly deviceKey?: string;
  /** The candidate device's attributes; `gateway` names the device it sits behind. */
  readonly deviceAttributes?: Readonly<Record<string, unknown>>;
}

/** Attribute of a device that names its gateway's device key (match 'behind'). */
export const GATEWAY_ATTRIBUTE = 'gateway';

/** Whether `inhibitor` suppresses `candidate`. An alert never inhibits itself. */
export function inhibits(inhibitor: InhibitingAlert, candidate: InhibitionCandidate): boolean {
  const spec = inhibitor.inhibits;
  if (spec === undefined || !spec.rules.includes(candidate.ruleId)) return false;
  if (inhibitor.ruleId === candidate.ruleId && inhibitor.deviceKey === candidate.deviceKey) {
    return false;
  }
  switch (spec.match) {
    case 'all':
      return true;
    case 'same-device':
      return inhibitor.deviceKey !== undefined && inhibitor.deviceKey === candidate.deviceKey;
    case 'behind': {
      if (inhibitor.deviceKey === undefined || candidate.deviceKey === undefined) return false;
      const gateway = candidate.deviceAttributes?.[GATEWAY_ATTRIBUTE];
      // Attributes are JSON: a numeric device key may be stored as a number.
      const key = typeof gateway === 'number' ? String(gateway) : gateway;
      return key === inhibitor.deviceKey;
    }
  }
}

/**
 * The first alert of `open` (in the caller's order: pass a stable one, such as oldest first)
 * that inhibits `candidate`, or undefined when none does.
 */
export function findInhibitor<A extends InhibitingAlert>(
  open: Iterable<A>,
  candidate: InhibitionCandidate,
): A | undefined {
  for (const alert of open) if (inhibits(alert, candidate)) return alert;
  return undefined;
}
