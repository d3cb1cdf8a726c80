/**
 * RFC 5545 recurrence rules of maintenance windows, expanded with rrule in "floating" local
 * time: every date here is a wall-clock reading written as UTC (local milliseconds, zone.ts),
 * and maintenance.ts turns readings into instants.
 *
 * Accepted subset, chosen so that every lookup is cheap and bounded. rrule (2.8.1) searches
 * until year 9999 when a rule matches nothing, one FREQ step at a time: a DAILY rule that never
 * matches keeps the event loop busy for 15 s. So:
 * - FREQ is YEARLY, MONTHLY, WEEKLY or DAILY (several times a day: DAILY with BYHOUR/BYMINUTE);
 * - parts: INTERVAL, COUNT (<= 1000), UNTIL, BYDAY, BYHOUR, BYMINUTE, WKST, and for MONTHLY and
 *   YEARLY also BYMONTH, BYMONTHDAY and BYSETPOS (day-of-month filters on a daily series are
 *   what makes it sparse); BYDAY ordinals (+1MO, -1FR) only for MONTHLY and YEARLY;
 * - a rule that can never match (BYMONTH=2;BYMONTHDAY=30, or DAILY;INTERVAL=7 on a start whose
 *   weekday is not in BYDAY) is rejected.
 * The search that remains unbounded is that of MONTHLY/YEARLY rules (at most ~100k cheap steps).
 */
import rrulePkg from 'rrule';
import { DAY_MS, dayOf, weekdayOf } from './zone.ts';

// rrule ships CommonJS without named ESM exports: take the classes off the default export.
const { RRule, Frequency } = rrulePkg;
type RRuleInstance = InstanceType<typeof RRule>;
type ParsedOptions = ReturnType<typeof RRule.parseString>;

const FREQUENCIES = new Map<number, string>([
  [Frequency.YEARLY, 'YEARLY'],
  [Frequency.MONTHLY, 'MONTHLY'],
  [Frequency.WEEKLY, 'WEEKLY'],
  [Frequency.DAILY, 'DAILY'],
]);
const FREQ_LIST = 'YEARLY, MONTHLY, WEEKLY or DAILY';

/** Parts allowed for every FREQ, and the extra ones for MONTHLY and YEARLY (rrule's names). */
const COMMON_PARTS = new Set([
  'freq',
  'interval',
  'count',
  'until',
  'byweekday',
  'byhour',
  'byminute',
  'wkst',
]);
const CALENDAR_PARTS = new Set(['bymonth', 'bymonthday', 'bysetpos']);
const PART_NAMES: Readonly<Record<string, string>> = {
  byweekday: 'BYDAY',
  byhour: 'BYHOUR',
  byminute: 'BYMINUTE',
  bymonth: 'BYMONTH',
  bymonthday: 'BYMONTHDAY',
  bysetpos: 'BYSETPOS',
  byyearday: 'BYYEARDAY',
  byweekno: 'BYWEEKNO',
  bysecond: 'BYSECOND',
  byeaster: 'BYEASTER',
};

/** Allowed whole numbers of the numeric parts; `signed` ones also take -max..-1 but not 0. */
const NUMERIC_PARTS: Readonly<Record<string, { min: number; max: number; signed?: boolean }>> = {
  interval: { min: 1, max: 1000 },
  count: { min: 1, max: 1000 },
  byhour: { min: 0, max: 23 },
  byminute: { min: 0, max: 59 },
  bymonth: { min: 1, max: 12 },
  bymonthday: { min: -31, max: 31, signed: true },
  bysetpos: { min: -366, max: 366, signed: true },
};
/** BYHOUR x BYMINUTE: more than this many times a day is not a maintenance window. */
const MAX_TIMES_PER_DAY = 24;
/** Days in each month, February as in a leap year (a date that can exist at all). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/**
 * DAILY and WEEKLY rules without COUNT are re-anchored close to the lookup (a whole number of
 * steps after the start, which leaves the series unchanged) so a lookup walks at most about
 * this far instead of from the start; the anchor moves in these strides to be reused.
 */
const ANCHOR_STRIDE_MS = 28 * DAY_MS;

/** A compiled rule: its series starts at `start` (local milliseconds). */
export interface Recurrence {
  readonly options: ParsedOptions;
  readonly start: number;
  /** Length of one FREQ x INTERVAL step when re-anchoring is exact; undefined otherwise. */
  readonly step: number | undefined;
  readonly base: RRuleInstance;
  /** The last re-anchored rule, reused while lookups stay near it. */
  anchored?: { readonly anchor: number; readonly rule: RRuleInstance };
}

/** Parsed options of an RRULE text, or a reason why it is not acceptable (static checks only). */
export function parseRecurrence(text: string): ParsedOptions | string {
  const body = text.replace(/^RRULE:/i, '');
  if (/(^|[;\n])\s*(DTSTART|TZID)\b/i.test(body) || body.includes('\n')) {
    return 'expected one RRULE without DTSTART or TZID (the window has start and timezone)';
  }
  let options: ParsedOptions;
  try {
    options = RRule.parseString(body);
  } catch (error) {
    return `invalid RRULE: ${(error as Error).message}`;
  }
  const freq = options.freq;
  // parseString lets unknown values through as undefined (FREQ=FOO, BYDAY=XX): catch them here.
  if (freq === undefined || freq === null || !FREQUENCIES.has(freq)) {
    return `invalid RRULE: FREQ must be ${FREQ_LIST}`;
  }
  const calendar = freq === Frequency.MONTHLY || freq === Frequency.YEARLY;
  for (const [key, value] of Object.entries(options)) {
    const name = PART_NAMES[key] ?? key.toUpperCase();
    if (!COMMON_PARTS.has(key) && !(calendar && CALENDAR_PARTS.has(key))) {
      return CALENDAR_PARTS.has(key)
        ? `invalid RRULE: ${name} needs FREQ=MONTHLY or YEARLY`
        : `invalid RRULE: ${name} is not supported`;
    }
    const problem = partProblem(key, name, value, calendar);
    if (problem !== undefined) return `invalid RRULE: ${problem}`;
  }
  const times = count(options.byhour) * count(options.byminute);
  if (times > MAX_TIMES_PER_DAY) {
    return `invalid RRULE: BYHOUR x BYMINUTE gives ${times} times a day, at most ${MAX_TIMES_PER_DAY}`;
  }
  if (options.bymonthday !== undefined && !someDayExists(options)) {
    return 'invalid RRULE: no BYMONTHDAY exists in any BYMONTH, so it never occurs';
  }
  return options;
}

function partProblem(
  key: string,
  name: string,
  value: unknown,
  calendar: boolean,
): string | undefined {
  const numeric = NUMERIC_PARTS[key];
  if (numeric !== undefined) {
    const values = Array.isArray(value) ? value : [value];
    const ok = values.every(
      (v) =>
        Number.isInteger(v) && v >= numeric.min && v <= numeric.max && !(v === 0 && numeric.signed),
    );
    const range = `${numeric.min}..${numeric.max}${numeric.signed ? ' except 0' : ''}`;
    return ok ? undefined : `${name}: expected whole numbers ${range}`;
  }
  if (value === undefined || (Array.isArray(value) && value.includes(undefined))) {
    return `bad value for ${name}`;
  }
  if (key === 'byweekday' && !calendar) {
    const days = Array.isArray(value) ? value : [value];
    if (days.some((day) => typeof day === 'object' && day !== null && day.n !== undefined)) {
      return 'BYDAY ordinals (+1MO, -1FR) need FREQ=MONTHLY or YEARLY';
    }
  }
  return undefined;
}

function count(value: unknown): number {
  if (value === undefined || value === null) return 1;
  return Array.isArray(value) ? value.length : 1;
}

/** Whether some (BYMONTH, BYMONTHDAY) pair is a date that exists in some year. */
function someDayExists(options: ParsedOptions): boolean {
  const months = toArray(options.bymonth) ?? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const days = toArray(options.bymonthday) ?? [];
  return months.some((month) => days.some((day) => Math.abs(day) <= MONTH_DAYS[month - 1]!));
}

function toArray(value: number | number[] | null | undefined): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value : [value];
}

/**
 * The rule of `options` whose series starts at `start` (local milliseconds), or a reason why it
 * never occurs from there (so compile only what this accepts).
 */
export function compileRecurrence(options: ParsedOptions, start: number): Recurrence | string {
  const freq = options.freq!;
  const interval = options.interval ?? 1;
  const weekdays = toArray(
    (Array.isArray(options.byweekday) ? options.byweekday : [options.byweekday])
      .filter((day) => day !== undefined && day !== null)
      .map((day) => (typeof day === 'number' ? day : (day as { weekday: number }).weekday)),
  );
  // rrule numbers weekdays 0 = Monday, as weekdayOf does.
  if (freq === Frequency.DAILY && interval % 7 === 0 && weekdays && weekdays.length > 0) {
    if (!weekdays.includes(weekdayOf(dayOf(start)))) {
      return 'never occurs: INTERVAL is a multiple of 7 days and the start is not on a BYDAY day';
    }
  }
  const base = new RRule({ ...options, dtstart: new Date(start), tzid: null });
  const anchorable =
    (freq === Frequency.DAILY || freq === Frequency.WEEKLY) &&
    (options.count === undefined || options.count === null);
  const step = anchorable ? interval * (freq === Frequency.WEEKLY ? 7 : 1) * DAY_MS : undefined;
  const recurrence: Recurrence = { options, start, step, base };
  if (ruleNear(recurrence, start).after(new Date(start), true) === null) {
    return 'never occurs at or after start (check UNTIL, BYSETPOS, BYDAY and BYMONTHDAY)';
  }
  return recurrence;
}

/** Readings of occurrences in [from, to] (local milliseconds), ascending. */
export function readingsBetween(recurrence: Recurrence, from: number, to: number): number[] {
  const rule = ruleNear(recurrence, from);
  return rule.between(new Date(from), new Date(to), true).map((date) => date.getTime());
}

/** The first `n` readings strictly after `after` (fewer when the series ends). */
export function readingsAfter(recurrence: Recurrence, after: number, n: number): number[] {
  const rule = ruleNear(recurrence, after);
  const out: number[] = [];
  let last = new Date(after);
  while (out.length < n) {
    const next = rule.after(last, false);
    if (next === null) break;
    out.push(next.getTime());
    last = next;
  }
  return out;
}

/** A rule with the same series from `from` on, started as late as possible (but by `from`). */
function ruleNear(recurrence: Recurrence, from: number): RRuleInstance {
  const { step, start } = recurrence;
  if (step === undefined || from - start < ANCHOR_STRIDE_MS + step) return recurrence.base;
  // A whole number of steps, and a whole number of strides' worth of them, before `from`.
  const stepsPerStride = Math.max(1, Math.floor(ANCHOR_STRIDE_MS / step));
  const strides = Math.floor((from - start) / (step * stepsPerStride)) - 1;
  if (strides <= 0) return recurrence.base;
  const anchor = start + strides * stepsPerStride * step;
  if (recurrence.anchored?.anchor !== anchor) {
    const rule = new RRule({ ...recurrence.options, dtstart: new Date(anchor), tzid: null });
    recurrence.anchored = { anchor, rule };
  }
  return recurrence.anchored.rule;
}
