import fc from 'fast-check';
import rrulePkg from 'rrule';
import { describe, expect, it } from 'vitest';
import type { MaintenanceWindow, Scope } from '../../actors/rules/model.ts';
import {
  activeOccurrence,
  InvalidMaintenanceWindowError,
  nextBoundary,
  validateMaintenanceWindow,
  windowsCovering,
} from '../../actors/rules/time/maintenance.ts';

const { RRule } = rrulePkg;
const t = (iso: string) => {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const DAY = 86_400_000;

let ids = 0;
function window(
  fields: Partial<MaintenanceWindow> & Pick<MaintenanceWindow, 'start' | 'duration'>,
) {
  ids++;
  return {
    id: `w${ids}`,
    tenantId: 'acme',
    name: `window ${ids}`,
    scope: { type: 'tenant' } as Scope,
    ...fields,
  } satisfies MaintenanceWindow;
}

/** Boundaries met following nextBoundary `n` times from `at`. */
function boundaries(w: MaintenanceWindow, at: number, n: number): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let now: number | undefined = at;
  for (let i = 0; i < n && now !== undefined; i++) {
    now = nextBoundary(w, now);
    out.push(iso(now));
  }
  return out;
}

/** Starts of the occurrences met following nextBoundary from `at` (ISO, UTC). */
function starts(w: MaintenanceWindow, at: number, n: number): string[] {
  const out: string[] = [];
  let now: number | undefined = at;
  while (out.length < n && now !== undefined) {
    now = nextBoundary(w, now);
    if (now === undefined) break;
    const open = activeOccurrence(w, now);
    if (open !== undefined && open.start === now) out.push(iso(now)!);
  }
  return out;
}

describe('one-off window', () => {
  const w = window({ start: '2026-05-10T22:00:00+02:00', duration: '3h' });

  it('is open on [start, start + duration)', () => {
    expect(activeOccurrence(w, t('2026-05-10T21:59:59+02:00'))).toBeUndefined();
    const open = { start: t('2026-05-10T20:00:00Z'), end: t('2026-05-10T23:00:00Z') };
    expect(activeOccurrence(w, t('2026-05-10T22:00:00+02:00'))).toEqual(open);
    expect(activeOccurrence(w, t('2026-05-11T00:59:59+02:00'))).toEqual(open);
    expect(activeOccurrence(w, t('2026-05-11T01:00:00+02:00'))).toBeUndefined();
  });

  it('has two boundaries, then none', () => {
    expect(boundaries(w, t('2026-05-01T00:00:00Z'), 3)).toEqual([
      '2026-05-10T20:00:00.000Z',
      '2026-05-10T23:00:00.000Z',
      undefined,
    ]);
  });
});

describe('weekly window across DST', () => {
  it('every Sunday 03:00 Europe/Berlin stays at 03:00 local, spring and autumn', () => {
    const w = window({
      start: '2026-03-22T03:00:00+01:00',
      duration: '2h',
      rrule: 'FREQ=WEEKLY;BYDAY=SU',
      timezone: 'Europe/Berlin',
    });
    expect(boundaries(w, t('2026-03-21T00:00:00Z'), 6)).toEqual([
      iso(t('2026-03-22T03:00:00+01:00')),
      iso(t('2026-03-22T05:00:00+01:00')),
      iso(t('2026-03-29T03:00:00+02:00')),
      iso(t('2026-03-29T05:00:00+02:00')),
      iso(t('2026-04-05T03:00:00+02:00')),
      iso(t('2026-04-05T05:00:00+02:00')),
    ]);
    expect(starts(w, t('2026-10-17T00:00:00Z'), 3)).toEqual([
      iso(t('2026-10-18T03:00:00+02:00')),
      iso(t('2026-10-25T03:00:00+01:00')),
      iso(t('2026-11-01T03:00:00+01:00')),
    ]);
    // The duration is real time: 2 hours also on the day the clock goes back.
    expect(activeOccurrence(w, t('2026-10-25T04:30:00+01:00'))).toEqual({
      start: t('2026-10-25T03:00:00+01:00'),
      end: t('2026-10-25T05:00:00+01:00'),
    });
  });

  it('a start the clock skips is read with the offset before the gap (RFC 5545)', () => {
    const w = window({
      start: '2026-03-22T02:00:00+01:00',
      duration: '1h',
      rrule: 'FREQ=WEEKLY;BYDAY=SU',
      timezone: 'Europe/Berlin',
    });
    // 02:00 does not exist on 2026-03-29: 02:00 at +01:00 is 03:00 CEST.
    expect(starts(w, t('2026-03-23T00:00:00Z'), 2)).toEqual([
      iso(t('2026-03-29T03:00:00+02:00')),
      iso(t('2026-04-05T02:00:00+02:00')),
    ]);
  });

  it('a start the clock shows twice is the first of them (RFC 5545)', () => {
    const w = window({
      start: '2026-10-18T02:30:00+02:00',
      duration: '1h',
      rrule: 'FREQ=WEEKLY;BYDAY=SU',
      timezone: 'Europe/Berlin',
    });
    expect(starts(w, t('2026-10-19T00:00:00Z'), 2)).toEqual([
      iso(t('2026-10-25T02:30:00+02:00')),
      iso(t('2026-11-01T02:30:00+01:00')),
    ]);
  });

  it('every Sunday 01:30 America/New_York across 2026-11-01', () => {
    const w = window({
      start: '2026-10-25T01:30:00-04:00',
      duration: '1h',
      rrule: 'RRULE:FREQ=WEEKLY',
      timezone: 'America/New_York',
    });
    expect(starts(w, t('2026-10-24T00:00:00Z'), 3)).toEqual([
      '2026-10-25T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-08T06:30:00.000Z',
    ]);
  });

  it('without a timezone the recurrence keeps the fixed offset of start', () => {
    const w = window({
      start: '2026-03-22T03:00:00+01:00',
      duration: '2h',
      rrule: 'FREQ=WEEKLY;BYDAY=SU',
    });
    expect(starts(w, t('2026-03-21T00:00:00Z'), 2)).toEqual([
      '2026-03-22T02:00:00.000Z',
      '2026-03-29T02:00:00.000Z',
    ]);
  });
});

describe('recurrences', () => {
  it('COUNT and UNTIL end the series', () => {
    const counted = window({
      start: '2026-06-01T01:00:00Z',
      duration: '1h',
      rrule: 'FREQ=DAILY;COUNT=2',
      timezone: 'UTC',
    });
    expect(boundaries(counted, t('2026-05-31T00:00:00Z'), 5)).toEqual([
      '2026-06-01T01:00:00.000Z',
      '2026-06-01T02:00:00.000Z',
      '2026-06-02T01:00:00.000Z',
      '2026-06-02T02:00:00.000Z',
      undefined,
    ]);
    const until = window({
      start: '2026-06-01T01:00:00Z',
      duration: '1h',
      rrule: 'FREQ=DAILY;UNTIL=20260602T235959Z',
      timezone: 'UTC',
    });
    expect(boundaries(until, t('2026-06-02T01:30:00Z'), 2)).toEqual([
      '2026-06-02T02:00:00.000Z',
      undefined,
    ]);
  });

  it('last weekday of the month', () => {
    const w = window({
      start: '2026-01-30T20:00:00+01:00',
      duration: '4h',
      rrule: 'FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1',
      timezone: 'Europe/Berlin',
    });
    // 2026-02-27 is a Friday, 2026-03-31 a Tuesday, 2026-05-31 a Sunday (so Friday the 29th).
    expect(starts(w, t('2026-02-01T00:00:00Z'), 4)).toEqual([
      iso(t('2026-02-27T20:00:00+01:00')),
      iso(t('2026-03-31T20:00:00+02:00')),
      iso(t('2026-04-30T20:00:00+02:00')),
      iso(t('2026-05-29T20:00:00+02:00')),
    ]);
  });

  it('several times a day, an occurrence open across midnight', () => {
    const w = window({
      start: '2026-06-01T11:00:00+02:00',
      duration: '2h',
      rrule: 'FREQ=DAILY;BYHOUR=11,23',
      timezone: 'Europe/Berlin',
    });
    expect(activeOccurrence(w, t('2026-06-03T00:30:00+02:00'))).toEqual({
      start: t('2026-06-02T23:00:00+02:00'),
      end: t('2026-06-03T01:00:00+02:00'),
    });
    expect(boundaries(w, t('2026-06-03T00:30:00+02:00'), 2)).toEqual([
      iso(t('2026-06-03T01:00:00+02:00')),
      iso(t('2026-06-03T11:00:00+02:00')),
    ]);
  });

  it('years after the start, an every-third-day window still falls on the right days', () => {
    const w = window({
      start: '2020-01-01T03:00:00+01:00',
      duration: '1h',
      rrule: 'FREQ=DAILY;INTERVAL=3',
      timezone: 'Europe/Berlin',
    });
    const first = Date.UTC(2020, 0, 1);
    for (let day = Date.UTC(2026, 5, 1); day < Date.UTC(2026, 5, 15); day += DAY) {
      const date = new Date(day).toISOString().slice(0, 10);
      const expected = ((day - first) / DAY) % 3 === 0;
      // 03:30 Berlin summer time.
      const open = activeOccurrence(w, t(`${date}T03:30:00+02:00`)) !== undefined;
      expect([date, open]).toEqual([date, expected]);
    }
  });

  it('lookups long after the start agree with expanding from the start (property)', () => {
    const rule = fc.record({
      freq: fc.constantFrom('DAILY', 'WEEKLY'),
      interval: fc.integer({ min: 1, max: 9 }),
      days: fc.uniqueArray(fc.constantFrom('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'), {
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(
        rule,
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1500 }),
        (r, startDay, laterDays) => {
          const byday = r.days.length > 0 ? `;BYDAY=${r.days.join(',')}` : '';
          // DAILY;INTERVAL=7 on a day not in BYDAY never occurs: that is rejected, skip it.
          const text = `FREQ=${r.freq};INTERVAL=${r.interval}${byday}`;
          const startMs = Date.UTC(2020, 0, 1, 6) + startDay * DAY;
          const w = window({
            start: new Date(startMs).toISOString(),
            duration: '30m',
            rrule: text,
            timezone: 'UTC',
          });
          if (validateMaintenanceWindow(w).length > 0) return;
          const at = startMs + laterDays * DAY + 3 * 3_600_000;
          const oracle = new RRule({ ...RRule.parseString(text), dtstart: new Date(startMs) });
          const expected = oracle.after(new Date(at), false)?.getTime();
          expect(iso(nextBoundary(w, at))).toEqual(iso(expected));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('validateMaintenanceWindow', () => {
  const valid = { start: '2026-03-22T03:00:00+01:00', duration: '2h' };

  it('accepts one-off and recurring windows', () => {
    expect(validateMaintenanceWindow(valid)).toEqual([]);
    expect(
      validateMaintenanceWindow({
        ...valid,
        rrule: 'FREQ=WEEKLY;BYDAY=SU',
        timezone: 'Europe/Berlin',
        rules: ['r1'],
      }),
    ).toEqual([]);
  });

  it.each([
    [{ start: '2026-03-22T03:00:00' }, 'start: expected an ISO 8601 date-time with offset'],
    [{ start: '2026-02-30T03:00:00Z' }, 'start: expected an ISO 8601 date-time with offset'],
    [{ duration: '0s' }, 'duration: must be at least 1m'],
    [{ duration: '2 hours' }, 'duration: expected a duration like'],
    [{ timezone: 'Mars/Olympus' }, 'timezone: unknown time zone "Mars/Olympus"'],
    [{ rrule: 'FREQ=FORTNIGHTLY' }, 'rrule: invalid RRULE: FREQ must be'],
    [
      { rrule: 'FREQ=HOURLY' },
      'rrule: invalid RRULE: FREQ must be YEARLY, MONTHLY, WEEKLY or DAILY',
    ],
    [{ rrule: 'FREQ=WEEKLY;BYDAY=XX' }, 'rrule: invalid RRULE: bad value for BYDAY'],
    [{ rrule: 'FREQ=DAILY;INTERVAL=0' }, 'rrule: invalid RRULE: INTERVAL: expected whole numbers'],
    [
      { rrule: 'FREQ=DAILY;BYHOUR=24' },
      'rrule: invalid RRULE: BYHOUR: expected whole numbers 0..23',
    ],
    [{ rrule: 'FREQ=DAILY;BYMONTHDAY=1' }, 'rrule: invalid RRULE: BYMONTHDAY needs FREQ=MONTHLY'],
    [{ rrule: 'FREQ=WEEKLY;BYDAY=+1MO' }, 'rrule: invalid RRULE: BYDAY ordinals'],
    [{ rrule: 'FREQ=DAILY;BYSECOND=5' }, 'rrule: invalid RRULE: BYSECOND is not supported'],
    [{ rrule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' }, 'rrule: invalid RRULE: no BYMONTHDAY'],
    [{ rrule: 'FREQ=DAILY;INTERVAL=14;BYDAY=MO' }, 'rrule: never occurs: INTERVAL is a multiple'],
    [{ rrule: 'FREQ=DAILY;UNTIL=20250101T000000Z' }, 'rrule: never occurs at or after start'],
    [{ rrule: 'DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY' }, 'rrule: expected one RRULE without'],
    [{ rrule: 'FREQ=DAILY;BYUNKNOWN=1' }, 'rrule: invalid RRULE: Unknown RRULE property'],
    [{ rules: 'r1' }, 'rules: expected an array of rule ids'],
    [{ rules: ['r1', 7] }, 'rules[1]: expected a rule id'],
  ])('rejects %j', (change, message) => {
    const errors = validateMaintenanceWindow({ ...valid, ...change });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it('prefixes paths and rejects non-objects', () => {
    expect(validateMaintenanceWindow({ ...valid, duration: '0m' }, 'window')).toEqual([
      'window.duration: must be at least 1m',
    ]);
    expect(validateMaintenanceWindow(null)).toEqual(['(root): expected an object']);
  });

  it('the evaluation functions throw InvalidMaintenanceWindowError', () => {
    const bad = window({ start: 'yesterday', duration: '1h' });
    expect(() => activeOccurrence(bad, 0)).toThrow(InvalidMaintenanceWindowError);
    expect(() => nextBoundary(bad, 0)).toThrow(/start: expected/);
  });
});

describe('windowsCovering', () => {
  const at = t('2026-06-10T12:00:00Z');
  const open = { start: '2026-06-10T10:00:00Z', duration: '4h' };
  const everything = window({ ...open });
  const coldRoomR1 = window({
    ...open,
    scope: { type: 'group', group: 'cold-room' },
    rules: ['r1'],
  });
  const onlyD9 = window({ ...open, scope: { type: 'device', device: 'd9' } });
  const tagged = window({ ...open, scope: { type: 'tags', all: ['eu'], any: ['pump', 'fan'] } });
  const over = window({ start: '2026-06-09T10:00:00Z', duration: '1h' });
  const damaged = window({ start: 'not a date', duration: '1h' });
  const all = [everything, coldRoomR1, onlyD9, tagged, over, damaged];

  const covering = (alert: Parameters<typeof windowsCovering>[1]) =>
    windowsCovering(all, alert, at).map((c) => c.window.id);

  it('matches by scope, rule filter and time, and reports the occurrence', () => {
    const alert = { ruleId: 'r1', deviceKey: 'd1', deviceGroups: ['cold-room'], deviceTags: [] };
    expect(covering(alert)).toEqual([everything.id, coldRoomR1.id]);
    expect(covering({ ...alert, ruleId: 'r2' })).toEqual([everything.id]);
    expect(covering({ ...alert, deviceKey: 'd9', deviceGroups: [] })).toEqual([
      everything.id,
      onlyD9.id,
    ]);
    expect(covering({ ...alert, deviceGroups: [], deviceTags: ['eu', 'fan'] })).toEqual([
      everything.id,
      tagged.id,
    ]);
    const [first] = windowsCovering(all, alert, at);
    expect(first).toMatchObject({ start: t(open.start), end: t(open.start) + 4 * 3_600_000 });
  });

  it('an aggregate alert (no device) is covered by tenant, group and tag scopes only', () => {
    const alert = { ruleId: 'r1', deviceGroups: ['cold-room'], deviceTags: [] };
    expect(covering(alert)).toEqual([everything.id, coldRoomR1.id]);
    const d9Only = window({ ...open, scope: { type: 'devices', devices: ['d9'] } });
    expect(windowsCovering([d9Only], alert, at)).toEqual([]);
  });

  it('skips a damaged stored window and reports it', () => {
    const reported: string[] = [];
    const alert = { ruleId: 'r1', deviceKey: 'd1', deviceGroups: [], deviceTags: [] };
    const found = windowsCovering(all, alert, at, (w, error) => {
      reported.push(`${w.id}: ${error.errors.join('; ')}`);
    });
    expect(found.map((c) => c.window.id)).toEqual([everything.id]);
    expect(reported).toEqual([
      `${damaged.id}: start: expected an ISO 8601 date-time with offset, e.g. 2026-03-29T02:00:00+01:00`,
    ]);
  });
});
