/**
 * Wall-clock arithmetic on IANA zones, done on "local milliseconds": the wall-clock reading of an
 * instant written as if it were UTC (`Date.UTC(y, m, d, hh, mm)`). Local milliseconds make day
 * numbers, weekdays and times of day plain integer arithmetic; luxon supplies only the zone's
 * UTC offset at an instant, which is all that depends on the tz database.
 */
import { FixedOffsetZone, IANAZone, type Zone } from 'luxon';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/**
 * Offsets around a local time are sampled this far away on each side: further than any UTC
 * offset (so the instants showing that reading lie between the samples), yet close enough that
 * no real zone changes its offset twice in between, so the two samples are the offsets before
 * and after any change near the reading.
 */
const SAMPLE_MS = DAY_MS + 2 * HOUR_MS;
/**
 * Step when scanning for offset transitions. Real zones never change their offset twice within
 * six hours, so a step this size sees every transition as a difference between two samples.
 */
const TRANSITION_STEP_MS = 6 * HOUR_MS;

const zones = new Map<string, Zone | null>();

/** The luxon zone named `name` (IANA, case-insensitive as luxon allows), or null if unknown. */
export function findZone(name: string): Zone | null {
  let zone = zones.get(name);
  if (zone === undefined) {
    zone = IANAZone.isValidZone(name) ? IANAZone.create(name) : null;
    // Bounded: zone names come from stored rules; a flood of bogus names stops being cached.
    if (zones.size < 1000) zones.set(name, zone);
  }
  return zone;
}

/** A zone with a constant offset (minutes east of UTC). */
export function fixedZone(offsetMinutes: number): Zone {
  return FixedOffsetZone.instance(offsetMinutes);
}

/** UTC offset of `zone` at instant `at`, in milliseconds. */
export function offsetMs(zone: Zone, at: number): number {
  return zone.offset(at) * MINUTE_MS;
}

/** The wall-clock reading of instant `at` in `zone`, as local milliseconds. */
export function toLocal(zone: Zone, at: number): number {
  return at + offsetMs(zone, at);
}

/**
 * Every instant whose wall-clock reading in `zone` is `local`, earliest first: one normally,
 * two in the repeated hour after a clock goes back, none in the hour skipped when it goes
 * forward.
 */
export function instantsAt(zone: Zone, local: number): number[] {
  const before = offsetMs(zone, local - SAMPLE_MS);
  const after = offsetMs(zone, local + SAMPLE_MS);
  const out: number[] = [];
  for (const offset of before === after ? [before] : [before, after]) {
    const at = local - offset;
    if (offsetMs(zone, at) === offset) out.push(at);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The instant RFC 5545 (3.3.5) gives a local date-time: the first of two readings in a repeated
 * hour, and for a reading skipped by a forward jump, the local time read with the offset before
 * the gap (02:30 on a day that jumps 02:00 -> 03:00 is 03:30 new time, one hour after 01:30).
 */
export function instantOfLocal(zone: Zone, local: number): number {
  const found = instantsAt(zone, local);
  if (found.length > 0) return found[0]!;
  const before = offsetMs(zone, local - SAMPLE_MS);
  const after = offsetMs(zone, local + SAMPLE_MS);
  return local - Math.min(before, after);
}

/**
 * The first instant in (from, to] at which the UTC offset of `zone` changes (the first instant
 * with the new offset), or undefined when it stays the same throughout.
 */
export function nextTransition(zone: Zone, from: number, to: number): number | undefined {
  if (zone.isUniversal) return undefined;
  let low = from;
  let lowOffset = zone.offset(low);
  while (low < to) {
    const high = Math.min(low + TRANSITION_STEP_MS, to);
    if (zone.offset(high) !== lowOffset) return bisectTransition(zone, low, high, lowOffset);
    low = high;
    lowOffset = zone.offset(low);
  }
  return undefined;
}

/** The first instant in (low, high] whose offset differs from `lowOffset` (the one at `low`). */
function bisectTransition(zone: Zone, low: number, high: number, lowOffset: number): number {
  let lo = low;
  let hi = high;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (zone.offset(mid) === lowOffset) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Day number (days since 1970-01-01) of local milliseconds. */
export function dayOf(local: number): number {
  return Math.floor(local / DAY_MS);
}

/** Weekday of a day number, 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday). */
export function weekdayOf(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Day number of a calendar date `YYYY-MM-DD`, or undefined when it is not a real date. */
export function dayOfDate(text: string): number | undefined {
  const match = DATE_PATTERN.exec(text);
  if (match === null) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const date = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 2026-02-30 over into March: a real date survives the round trip.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1) return undefined;
  if (date.getUTCDate() !== day) return undefined;
  return date.getTime() / DAY_MS;
}
