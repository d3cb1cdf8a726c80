/**
 * Escalation policies: levels of targets with a delay, repeats and an interval, turned into a
 * plan of steps at absolute times (docs/escalation.md, decision 3).
 */
import { durationProblem, parseDuration } from '../../rules/format/duration.ts';

export type ChannelKind = 'email' | 'sms' | 'slack' | 'webhook' | 'pagerduty';
export const CHANNEL_KINDS: readonly ChannelKind[] = [
  'email',
  'sms',
  'slack',
  'webhook',
  'pagerduty',
];

export type PolicyTarget =
  /** A user, through their contact points and preferences; `channels` narrows the kinds. */
  | { readonly type: 'user'; readonly id: string; readonly channels?: readonly ChannelKind[] }
  /** Members of a team, as users (`members: 'lead'`: only its leads). */
  | {
      readonly type: 'team';
      readonly id: string;
      readonly members?: 'all' | 'lead';
      readonly channels?: readonly ChannelKind[];
    }
  /** A shared contact point (a team's Slack channel, a PagerDuty service, a webhook). */
  | { readonly type: 'contact_point'; readonly id: string };

export interface PolicyLevel {
  /** From the start of escalation (alert opened, or its suppression ended). */
  readonly delay: string;
  /** Sends after the first one (default 0). */
  readonly repeat?: number;
  /** Between repeats; required when repeat > 0. */
  readonly interval?: string;
  readonly targets: readonly PolicyTarget[];
}

export interface PlanStep {
  readonly at: number;
  readonly level: number;
  /** 0 for the first send of the level, then 1..repeat. */
  readonly round: number;
}

export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}

const MAX_LEVELS = 20;
const MAX_REPEAT = 100;

/** Validates policy levels as a client sent them; paths read like `levels[1].targets[0].id`. */
export function validateLevels(
  input: unknown,
): { ok: true; levels: PolicyLevel[] } | { ok: false; errors: PolicyProblem[] } {
  const errors: PolicyProblem[] = [];
  const problem = (path: string, message: string) => errors.push({ path, message });
  if (!Array.isArray(input))
    return { ok: false, errors: [{ path: 'levels', message: 'expected an array' }] };
  if (input.length === 0) problem('levels', 'expected at least one level');
  if (input.length > MAX_LEVELS) problem('levels', `expected at most ${MAX_LEVELS} levels`);
  input.forEach((level: unknown, i) => {
    const at = `levels[${i}]`;
    if (typeof level !== 'object' || level === null || Array.isArray(level)) {
      problem(at, 'expected an object');
      return;
    }
    const l = level as Record<string, unknown>;
    const delay = durationProblem(l.delay);
    if (delay !== undefined) problem(`${at}.delay`, delay);
    const repeat = l.repeat ?? 0;
    if (
      typeof repeat !== 'number' ||
      !Number.isInteger(repeat) ||
      repeat < 0 ||
      repeat > MAX_REPEAT
    ) {
      problem(`${at}.repeat`, `expected an integer from 0 to ${MAX_REPEAT}`);
    } else if (repeat > 0) {
      const interval = durationProblem(l.interval);
      if (interval !== undefined) problem(`${at}.interval`, interval);
      else if (parseDuration(l.interval as string) < 1_000)
        problem(`${at}.interval`, 'expected at least 1s');
    }
    if (!Array.isArray(l.targets) || l.targets.length === 0) {
      problem(`${at}.targets`, 'expected a non-empty array');
      return;
    }
    l.targets.forEach((target: unknown, j) => {
      const tp = `${at}.targets[${j}]`;
      if (typeof target !== 'object' || target === null) {
        problem(tp, 'expected an object');
        return;
      }
      const t = target as Record<string, unknown>;
      if (t.type !== 'user' && t.type !== 'team' && t.type !== 'contact_point') {
        problem(`${tp}.type`, "expected 'user', 'team' or 'contact_point'");
      }
      if (typeof t.id !== 'string' || !/^\d{1,18}$/.test(t.id))
        problem(`${tp}.id`, 'expected an id (digits, as a string)');
      if (
        t.members !== undefined &&
        (t.type !== 'team' || (t.members !== 'all' && t.members !== 'lead'))
      ) {
        problem(`${tp}.members`, "expected 'all' or 'lead', on a team target");
      }
      if (t.channels !== undefined) {
        if (t.type === 'contact_point') problem(`${tp}.channels`, 'not allowed on a contact point');
        else if (
          !Array.isArray(t.channels) ||
          t.channels.length === 0 ||
          !t.channels.every((c) => CHANNEL_KINDS.includes(c as ChannelKind))
        ) {
          problem(`${tp}.channels`, `expected a non-empty list of ${CHANNEL_KINDS.join(', ')}`);
        }
      }
    });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, levels: input as PolicyLevel[] };
}

/** Every step of the policy from `startAt`, in time order (ties: level order). */
export function planSteps(levels: readonly PolicyLevel[], startAt: number): PlanStep[] {
  const steps: PlanStep[] = [];
  levels.forEach((level, index) => {
    const first = startAt + parseDuration(level.delay);
    const repeat = level.repeat ?? 0;
    const interval = repeat > 0 ? parseDuration(level.interval ?? '0s') : 0;
    for (let round = 0; round <= repeat; round++) {
      steps.push({ at: first + round * interval, level: index, round });
    }
  });
  return steps.sort((a, b) => a.at - b.at || a.level - b.level || a.round - b.round);
}
