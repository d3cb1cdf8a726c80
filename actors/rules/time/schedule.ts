/**
 * When a rule is active (Schedule in ../model.ts; docs/schedules.md explains the semantics).
 *
 * The rule is active while the wall clock of the schedule's zone reads a time inside one of its
 * periods: a period `from`-`to` on day D covers the local readings [D from, D to) when
 * `from < to`, and [D from, D+1 to) when `to <= from` (it crosses midnight and belongs to D,
 * the day it starts on: its weekday and its excluded-date check are D's). Judging by the wall
 * clock is what makes DST behave as a person expects: on the day the clock skips 02:00-03:00,
 * 01:00-03:00 lasts one real hour and a period from 02:30 starts at 03:00 (the first reading
 * after 02:30); on the day it repeats 02:00-03:00, 01:00-03:00 lasts three real hours; and
 * 09:00-17:00 is 09:00-17:00 on the clock every day.
 */
import type { Zone } from 'luxon';
import type { Schedule, Weekday } from '../model.ts';
import {
  DAY_MS,
  dayOf,
  dayOfDate,
  findZone,
  HOUR_MS,
  instantsAt,
  nextTransition,
  offsetMs,
  toLocal,
  weekdayOf,
} from './zone.ts';

export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/**
 * How far past the last excluded date nextScheduleChange looks before it calls a schedule
 * constant. Beyond its excluded dates a schedule repeats every week, except that a DST day can
 * swallow a short period; two weeks always include one ordinary occurrence of every period.
 */
const QUIET_SCAN_MS = 15 * DAY_MS;
/** nextScheduleChange never looks further than this (two years) ahead. */
export const SCHEDULE_SCAN_LIMIT_MS = 731 * DAY_MS;

/**
 * More than any backward jump of a real zone's clock (1 h for DST; the reading of an instant in
 * a scanned day can lie this much before the reading at the day's start).
 */
const JUMP_MARGIN_MS = 3 * HOUR_MS;

const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** A schedule that does not pass validateSchedule; `errors` are its path-style messages. */
export class InvalidScheduleError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(`invalid schedule: ${errors.join('; ')}`);
    this.name = 'InvalidScheduleError';
  }
}

interface CompiledPeriod {
  /** Bit i set: the period starts on weekday i (0 = Monday). */
  readonly days: number;
  /** Times of day in ms after local midnight. */
  readonly from: number;
  readonly to: number;
  readonly crossesMidnight: boolean;
}

interface CompiledSchedule {
  readonly zone: Zone;
  readonly periods: readonly CompiledPeriod[];
  readonly excluded: ReadonlySet<number>;
  readonly lastExcluded: number;
  /** Distinct `from` and `to` times of day: the readings at which the state may change. */
  readonly boundaries: readonly number[];
}

const compiled = new WeakMap<Schedule, CompiledSchedule>();

/**
 * Path-style errors of a schedule (`schedule.periods[1].from: expected HH:MM`), empty when it is
 * valid. `path` prefixes every message; pass the schedule's location in a larger document.
 */
export function validateSchedule(value: unknown, path = 'schedule'): string[] {
  const errors: string[] = [];
  if (!isRecord(value)) return [`${path}: expected an object`];
  for (const key of Object.keys(value)) {
    if (key !== 'timezone' && key !== 'periods' && key !== 'excludeDates') {
      errors.push(`${path}.${key}: unknown field`);
    }
  }
  const { timezone, periods, excludeDates } = value;
  if (typeof timezone !== 'string') {
    errors.push(`${path}.timezone: expected an IANA time zone name such as "Europe/Berlin"`);
  } else if (findZone(timezone) === null) {
    errors.push(`${path}.timezone: unknown time zone "${timezone}"`);
  }
  if (!Array.isArray(periods)) {
    errors.push(`${path}.periods: expected an array of periods`);
  } else if (periods.length === 0) {
    errors.push(`${path}.periods: expected at least one period`);
  } else {
    periods.forEach((period, i) => {
      errors.push(...validatePeriod(period, `${path}.periods[${i}]`));
    });
  }
  if (excludeDates !== undefined) {
    if (!Array.isArray(excludeDates)) {
      errors.push(`${path}.excludeDates: expected an array of dates YYYY-MM-DD`);
    } else {
      excludeDates.forEach((date, i) => {
        if (typeof date !== 'string' || dayOfDate(date) === undefined) {
          errors.push(`${path}.excludeDates[${i}]: expected a date YYYY-MM-DD`);
        }
      });
    }
  }
  return errors;
}

function validatePeriod(value: unknown, path: string): string[] {
  if (!isRecord(value)) return [`${path}: expected an object with days, from and to`];
  const errors: string[] = [];
  for (const key of Object.keys(value)) {
    if (key !== 'days' && key !== 'from' && key !== 'to') {
      errors.push(`${path}.${key}: unknown field`);
    }
  }
  const { days, from, to } = value;
  if (!Array.isArray(days) || days.length === 0) {
    errors.push(`${path}.days: expected a non-empty array of ${WEEKDAYS.join(', ')}`);
  } else {
    days.forEach((day, i) => {
      if (!WEEKDAYS.includes(day as Weekday)) {
        errors.push(`${path}.days[${i}]: expected one of ${WEEKDAYS.join(', ')}`);
      }
    });
  }
  for (const [key, time] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (typeof time !== 'string' || !TIME_PATTERN.test(time)) {
      errors.push(`${path}.${key}: expected HH:MM (00:00 to 23:59; 00:00 as "to" means midnight)`);
    }
  }
  return errors;
}

/** Whether the rule is active at instant `at` (ms since the epoch). Throws InvalidScheduleError. */
export function isScheduleActive(schedule: Schedule, at: number): boolean {
  const c = compile(schedule);
  return activeAtLocal(c, toLocal(c.zone, at));
}

/**
 * The first instant after `at` at which isScheduleActive changes value, so the caller can set
 * one reminder: the state is the same as at `at` throughout [at, result) and differs at
 * `result`. Undefined when it never changes: the schedule is always or never active from `at`
 * on (judged up to SCHEDULE_SCAN_LIMIT_MS ahead; a schedule whose only change lies further out,
 * because of an excluded date years away, also gives undefined). Throws InvalidScheduleError.
 */
export function nextScheduleChange(schedule: Schedule, at: number): number | undefined {
  const c = compile(schedule);
  const state = activeAtLocal(c, toLocal(c.zone, at));
  const quietUntil = Math.max(at, c.lastExcluded * DAY_MS) + QUIET_SCAN_MS;
  const limit = Math.min(quietUntil, at + SCHEDULE_SCAN_LIMIT_MS);
  // The state is a function of the wall-clock reading, so it can only change where the reading
  // passes a period boundary (an instant showing that time) or jumps (an offset transition).
  // Scan one day at a time, trying those candidates in order.
  let startOffset = offsetMs(c.zone, at);
  for (let start = at; start < limit; start += DAY_MS) {
    const end = start + DAY_MS;
    const endOffset = offsetMs(c.zone, end);
    const found =
      startOffset === endOffset
        ? changeAtSteadyOffset(c, state, start, end, startOffset)
        : changeAcrossTransition(c, state, start, end);
    if (found !== undefined) return found;
    startOffset = endOffset;
  }
  return undefined;
}

/**
 * The first change in (start, end] when the offset is the same at both ends. Real zones never
 * change their offset twice within a day, so it is that offset throughout, and each boundary
 * reading maps to one instant without asking the tz database again (the fast path: most days).
 */
function changeAtSteadyOffset(
  c: CompiledSchedule,
  state: boolean,
  start: number,
  end: number,
  offset: number,
): number | undefined {
  const candidates: number[] = [];
  for (let day = dayOf(start + offset); day <= dayOf(end + offset); day++) {
    for (const boundary of c.boundaries) {
      const instant = day * DAY_MS + boundary - offset;
      if (instant > start && instant <= end) candidates.push(instant);
    }
  }
  candidates.sort((a, b) => a - b);
  return candidates.find((instant) => activeAtLocal(c, instant + offset) !== state);
}

/** The first change in (start, end] when the offset changes in between (a DST day). */
function changeAcrossTransition(
  c: CompiledSchedule,
  state: boolean,
  start: number,
  end: number,
): number | undefined {
  const candidates: number[] = [];
  // Readings in (start, end] lie between those at its ends, give or take a backward jump.
  const firstDay = dayOf(toLocal(c.zone, start) - JUMP_MARGIN_MS);
  const lastDay = dayOf(toLocal(c.zone, end) + JUMP_MARGIN_MS);
  for (let day = firstDay; day <= lastDay; day++) {
    for (const boundary of c.boundaries) {
      for (const instant of instantsAt(c.zone, day * DAY_MS + boundary)) {
        if (instant > start && instant <= end) candidates.push(instant);
      }
    }
  }
  const transition = nextTransition(c.zone, start, end);
  if (transition !== undefined) candidates.push(transition);
  candidates.sort((a, b) => a - b);
  return candidates.find((instant) => activeAtLocal(c, toLocal(c.zone, instant)) !== state);
}

function activeAtLocal(c: CompiledSchedule, local: number): boolean {
  const day = dayOf(local);
  const time = local - day * DAY_MS;
  const todayBit = 1 << weekdayOf(day);
  const yesterdayBit = 1 << weekdayOf(day - 1);
  const todayOpen = !c.excluded.has(day);
  const yesterdayOpen = !c.excluded.has(day - 1);
  for (const p of c.periods) {
    if (todayOpen && (p.days & todayBit) !== 0 && time >= p.from) {
      if (p.crossesMidnight || time < p.to) return true;
    }
    if (p.crossesMidnight && yesterdayOpen && (p.days & yesterdayBit) !== 0 && time < p.to) {
      return true;
    }
  }
  return false;
}

function compile(schedule: Schedule): CompiledSchedule {
  const known = compiled.get(schedule);
  if (known !== undefined) return known;
  const errors = validateSchedule(schedule);
  if (errors.length > 0) throw new InvalidScheduleError(errors);
  const periods = schedule.periods.map((period): CompiledPeriod => {
    const from = timeOfDay(period.from);
    const to = timeOfDay(period.to);
    let days = 0;
    for (const day of period.days) days |= 1 << WEEKDAYS.indexOf(day);
    return { days, from, to, crossesMidnight: to <= from };
  });
  const excluded = new Set((schedule.excludeDates ?? []).map((date) => dayOfDate(date)!));
  const result: CompiledSchedule = {
    zone: findZone(schedule.timezone)!,
    periods,
    excluded,
    lastExcluded: [...excluded].reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    boundaries: [...new Set(periods.flatMap((p) => [p.from, p.to]))],
  };
  compiled.set(schedule, result);
  return result;
}

function timeOfDay(text: string): number {
  const [hours, minutes] = text.split(':').map(Number) as [number, number];
  return (hours * 60 + minutes) * 60_000;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
