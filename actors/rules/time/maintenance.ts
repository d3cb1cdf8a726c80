/**
 * Maintenance windows (MaintenanceWindow in ../model.ts; docs/schedules.md): when they are open,
 * and which of them cover an alert.
 *
 * A recurring window's RRULE is expanded in "floating" local time of its zone: rrule sees the
 * wall-clock reading of `start` as if it were UTC, produces wall-clock readings, and each
 * reading becomes an instant here (zone.ts, RFC 5545 rules for skipped and repeated readings).
 * So "every Sunday 02:00 Europe/Berlin" stays at 02:00 on the clock across DST. rrule's own
 * `tzid` option is not used: its results depend on the process's TZ (checked on rrule 2.8.1:
 * the same rule gave different instants under TZ=UTC, America/New_York and Asia/Tokyo) and put a
 * reading skipped by DST an hour early.
 */
import { DateTime, type Zone } from 'luxon';
import { durationProblem, parseDuration } from '../format/duration.ts';
import type { MaintenanceWindow } from '../model.ts';
import { type ScopedDevice, scopeMatches } from '../scope.ts';
import {
  compileRecurrence,
  parseRecurrence,
  type Recurrence,
  readingsAfter,
  readingsBetween,
} from './recurrence.ts';
import { DAY_MS, findZone, fixedZone, instantOfLocal, MINUTE_MS, toLocal } from './zone.ts';

/** One occurrence of a window: open on [start, end), ms since the epoch. */
export interface Occurrence {
  readonly start: number;
  readonly end: number;
}

/** A window that does not pass validateMaintenanceWindow; `errors` are its path-style messages. */
export class InvalidMaintenanceWindowError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(`invalid maintenance window: ${errors.join('; ')}`);
    this.name = 'InvalidMaintenanceWindowError';
  }
}

/** The alert whose suppression is in question. */
export interface MaintenanceSubject {
  readonly ruleId: string;
  /** Absent for an aggregate rule's alert: then only tenant-wide (and group/tag) scopes decide. */
  readonly deviceKey?: string;
  readonly deviceGroups: readonly string[];
  readonly deviceTags: readonly string[];
}

/** A window covering an alert, with the occurrence that covers it. */
export interface CoveringWindow extends Occurrence {
  readonly window: MaintenanceWindow;
}

/** ISO 8601 date-time with an explicit offset (Z or ±HH:MM); seconds and fraction optional. */
const START_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

interface CompiledWindow {
  readonly start: number;
  readonly duration: number;
  /** Present for recurring windows. */
  readonly recurrence?: { readonly series: Recurrence; readonly zone: Zone };
}

const compiled = new WeakMap<MaintenanceWindow, CompiledWindow>();

/**
 * Path-style errors of a window's timing and rule filter (`start`, `duration`, `rrule`,
 * `timezone`, `rules`), empty when they are valid. `scope` is checked by the rule format's scope
 * validation, `name` by the API. `path` prefixes every message (`maintenance.rrule: ...`).
 */
export function validateMaintenanceWindow(value: unknown, path = ''): string[] {
  const at = (field: string) => (path === '' ? field : `${path}.${field}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${path === '' ? '(root)' : path}: expected an object`];
  }
  const window = value as Record<string, unknown>;
  const errors: string[] = [];
  const { start, duration, rrule, timezone, rules } = window;
  if (typeof start !== 'string' || !START_PATTERN.test(start) || parseStart(start) === undefined) {
    errors.push(
      `${at('start')}: expected an ISO 8601 date-time with offset, e.g. 2026-03-29T02:00:00+01:00`,
    );
  }
  const durationError = durationProblem(duration);
  if (durationError !== undefined) {
    errors.push(`${at('duration')}: ${durationError}`);
  } else if (parseDuration(duration as string) < MINUTE_MS) {
    errors.push(`${at('duration')}: must be at least 1m`);
  }
  if (timezone !== undefined) {
    if (typeof timezone !== 'string') {
      errors.push(`${at('timezone')}: expected an IANA time zone name such as "Europe/Berlin"`);
    } else if (findZone(timezone) === null) {
      errors.push(`${at('timezone')}: unknown time zone "${timezone}"`);
    }
  }
  if (rrule !== undefined) {
    const problem = typeof rrule === 'string' ? rruleProblem(window) : 'expected a string';
    if (problem !== undefined) errors.push(`${at('rrule')}: ${problem}`);
  }
  if (rules !== undefined) {
    if (!Array.isArray(rules)) {
      errors.push(`${at('rules')}: expected an array of rule ids`);
    } else {
      rules.forEach((id, i) => {
        if (typeof id !== 'string' || id.length === 0) {
          errors.push(`${at(`rules[${i}]`)}: expected a rule id`);
        }
      });
    }
  }
  return errors;
}

/**
 * What is wrong with the window's RRULE: the text itself, or (once start and timezone are
 * readable) that it never occurs from the start on.
 */
function rruleProblem(window: Record<string, unknown>): string | undefined {
  const options = parseRecurrence(window.rrule as string);
  if (typeof options === 'string') return options;
  const zone = recurrenceZone(window);
  const start = typeof window.start === 'string' ? parseStart(window.start) : undefined;
  if (zone === undefined || start === undefined) return undefined;
  const series = compileRecurrence(options, toLocal(zone, start.at));
  return typeof series === 'string' ? series : undefined;
}

/** The zone a recurrence is expanded in: `timezone`, else the fixed offset `start` is written in. */
function recurrenceZone(window: Record<string, unknown>): Zone | undefined {
  if (window.timezone !== undefined) {
    return typeof window.timezone === 'string'
      ? (findZone(window.timezone) ?? undefined)
      : undefined;
  }
  const start = typeof window.start === 'string' ? parseStart(window.start) : undefined;
  return start === undefined ? undefined : fixedZone(start.offsetMinutes);
}

/**
 * The occurrence of `window` open at `at`, if any (start <= at < end). When occurrences overlap
 * (a duration longer than the recurrence interval) the one ending last. Throws
 * InvalidMaintenanceWindowError.
 */
export function activeOccurrence(window: MaintenanceWindow, at: number): Occurrence | undefined {
  let best: Occurrence | undefined;
  for (const occurrence of occurrencesAround(compile(window), at)) {
    if (occurrence.start <= at && at < occurrence.end && (!best || occurrence.end > best.end)) {
      best = occurrence;
    }
  }
  return best;
}

/**
 * The next instant after `at` at which an occurrence of `window` starts or ends, or undefined
 * when none is left (a one-off window that is over, a recurrence that ran out). Throws
 * InvalidMaintenanceWindowError.
 */
export function nextBoundary(window: MaintenanceWindow, at: number): number | undefined {
  let next: number | undefined;
  for (const { start, end } of occurrencesAround(compile(window), at)) {
    for (const instant of [start, end]) {
      if (instant > at && (next === undefined || instant < next)) next = instant;
    }
  }
  return next;
}

/**
 * The windows open at `at` that cover the alert: its rule is in the window's `rules` (or the
 * window has none) and its device is in the window's scope. The caller passes the windows of
 * the alert's tenant. A window that fails validation is skipped (and reported to `onInvalid`,
 * to count and log it): an unreadable stored window must not silence alerts or stop the others.
 */
export function windowsCovering(
  windows: Iterable<MaintenanceWindow>,
  alert: MaintenanceSubject,
  at: number,
  onInvalid?: (window: MaintenanceWindow, error: InvalidMaintenanceWindowError) => void,
): CoveringWindow[] {
  const device: ScopedDevice = {
    key: alert.deviceKey ?? '',
    groups: alert.deviceGroups,
    tags: alert.deviceTags,
  };
  const out: CoveringWindow[] = [];
  for (const window of windows) {
    if (window.rules !== undefined && !window.rules.includes(alert.ruleId)) continue;
    if (!inScope(window, alert, device)) continue;
    let occurrence: Occurrence | undefined;
    try {
      occurrence = activeOccurrence(window, at);
    } catch (error) {
      if (!(error instanceof InvalidMaintenanceWindowError)) throw error;
      onInvalid?.(window, error);
      continue;
    }
    if (occurrence !== undefined) out.push({ window, ...occurrence });
  }
  return out;
}

function inScope(window: MaintenanceWindow, alert: MaintenanceSubject, device: ScopedDevice) {
  // An alert about no single device (aggregate) is never in a device or device-list scope.
  const byKey = window.scope.type === 'device' || window.scope.type === 'devices';
  if (byKey && alert.deviceKey === undefined) return false;
  return scopeMatches(window.scope, device);
}

/**
 * The occurrences that can be open at `at` or start or end next after it: those starting from
 * one duration (plus a day of slack for offset differences) before `at` up to a day after it,
 * and the first two starting later.
 */
function occurrencesAround(c: CompiledWindow, at: number): Occurrence[] {
  if (c.recurrence === undefined) return [{ start: c.start, end: c.start + c.duration }];
  const { series, zone } = c.recurrence;
  const local = toLocal(zone, at);
  const readings = readingsBetween(series, local - c.duration - DAY_MS, local + DAY_MS);
  readings.push(...readingsAfter(series, local + DAY_MS, 2));
  return readings.map((reading) => {
    const start = instantOfLocal(zone, reading);
    return { start, end: start + c.duration };
  });
}

function compile(window: MaintenanceWindow): CompiledWindow {
  const known = compiled.get(window);
  if (known !== undefined) return known;
  const errors = validateMaintenanceWindow(window);
  if (errors.length > 0) throw new InvalidMaintenanceWindowError(errors);
  const parsed = parseStart(window.start)!;
  const duration = parseDuration(window.duration);
  let result: CompiledWindow = { start: parsed.at, duration };
  if (window.rrule !== undefined) {
    const zone = recurrenceZone(window as unknown as Record<string, unknown>)!;
    const options = parseRecurrence(window.rrule);
    const series =
      typeof options === 'string' ? options : compileRecurrence(options, toLocal(zone, parsed.at));
    // validateMaintenanceWindow accepted both, so neither is a reason string here.
    if (typeof series === 'string') throw new InvalidMaintenanceWindowError([`rrule: ${series}`]);
    result = { ...result, recurrence: { series, zone } };
  }
  compiled.set(window, result);
  return result;
}

/** Instant and UTC offset (minutes) of an ISO date-time with offset, undefined if unreadable. */
function parseStart(text: string): { at: number; offsetMinutes: number } | undefined {
  // setZone keeps the written offset; luxon also rejects impossible dates (02-30, 25:00).
  const parsed = DateTime.fromISO(text, { setZone: true });
  return parsed.isValid ? { at: parsed.toMillis(), offsetMinutes: parsed.offset } : undefined;
}
