import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Schedule, Weekday } from '../../actors/rules/model.ts';
import {
  InvalidScheduleError,
  isScheduleActive,
  nextScheduleChange,
  validateSchedule,
  WEEKDAYS,
} from '../../actors/rules/time/schedule.ts';

/** An instant from an ISO string with offset: the expected values read as local time. */
const t = (iso: string) => {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEKDAYS_ONLY: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

function schedule(
  timezone: string,
  periods: Array<[Weekday[], string, string]>,
  excludeDates?: string[],
): Schedule {
  return {
    timezone,
    periods: periods.map(([days, from, to]) => ({ days, from, to })),
    ...(excludeDates === undefined ? {} : { excludeDates }),
  };
}

/** The instants at which the state flips, following nextScheduleChange `n` times from `at`. */
function changes(s: Schedule, at: number, n: number): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let now: number | undefined = at;
  for (let i = 0; i < n && now !== undefined; i++) {
    now = nextScheduleChange(s, now);
    out.push(iso(now));
  }
  return out;
}

describe('business hours in two time zones', () => {
  const newYork = schedule('America/New_York', [[WEEKDAYS_ONLY, '09:00', '17:00']]);
  const tokyo = schedule('Asia/Tokyo', [[WEEKDAYS_ONLY, '09:00', '17:00']]);

  it('the same instant is business hours in one zone and not in the other', () => {
    // Wed 10:00 in New York is Wed 23:00 in Tokyo.
    const a = t('2026-06-10T10:00:00-04:00');
    expect(isScheduleActive(newYork, a)).toBe(true);
    expect(isScheduleActive(tokyo, a)).toBe(false);
    // Wed 21:00 in New York is Thu 10:00 in Tokyo.
    const b = t('2026-06-10T21:00:00-04:00');
    expect(isScheduleActive(newYork, b)).toBe(false);
    expect(isScheduleActive(tokyo, b)).toBe(true);
  });

  it('periods are half-open: active from `from`, inactive at `to`', () => {
    expect(isScheduleActive(tokyo, t('2026-06-12T08:59:59.999+09:00'))).toBe(false);
    expect(isScheduleActive(tokyo, t('2026-06-12T09:00:00+09:00'))).toBe(true);
    expect(isScheduleActive(tokyo, t('2026-06-12T16:59:59.999+09:00'))).toBe(true);
    expect(isScheduleActive(tokyo, t('2026-06-12T17:00:00+09:00'))).toBe(false);
  });

  it('the next change skips the weekend', () => {
    expect(changes(tokyo, t('2026-06-12T12:00:00+09:00'), 3)).toEqual([
      iso(t('2026-06-12T17:00:00+09:00')),
      iso(t('2026-06-15T09:00:00+09:00')),
      iso(t('2026-06-15T17:00:00+09:00')),
    ]);
  });

  it('several periods a day (a lunch break)', () => {
    const s = schedule('Europe/Berlin', [
      [WEEKDAYS_ONLY, '08:00', '12:00'],
      [WEEKDAYS_ONLY, '13:00', '17:00'],
    ]);
    expect(isScheduleActive(s, t('2026-06-10T12:30:00+02:00'))).toBe(false);
    expect(changes(s, t('2026-06-10T07:00:00+02:00'), 4)).toEqual([
      iso(t('2026-06-10T08:00:00+02:00')),
      iso(t('2026-06-10T12:00:00+02:00')),
      iso(t('2026-06-10T13:00:00+02:00')),
      iso(t('2026-06-10T17:00:00+02:00')),
    ]);
  });

  it('adjacent periods do not produce a change at the seam', () => {
    const s = schedule('Europe/Berlin', [
      [['mon'], '08:00', '12:00'],
      [['mon'], '12:00', '18:00'],
    ]);
    expect(nextScheduleChange(s, t('2026-06-08T09:00:00+02:00'))).toBe(
      t('2026-06-08T18:00:00+02:00'),
    );
  });
});

describe('a period across midnight', () => {
  // Friday night shift; 2026-12-25 is a Friday, 2026-12-19 a Saturday.
  const night = schedule(
    'Europe/Berlin',
    [[['fri'], '22:00', '06:00']],
    ['2026-12-25', '2026-12-19'],
  );

  it('belongs to the day it starts on: Fri 22:00-06:00 covers Saturday until 06:00', () => {
    expect(isScheduleActive(night, t('2026-12-11T21:59:00+01:00'))).toBe(false);
    expect(isScheduleActive(night, t('2026-12-11T22:00:00+01:00'))).toBe(true);
    expect(isScheduleActive(night, t('2026-12-12T00:00:00+01:00'))).toBe(true);
    expect(isScheduleActive(night, t('2026-12-12T05:59:00+01:00'))).toBe(true);
    expect(isScheduleActive(night, t('2026-12-12T06:00:00+01:00'))).toBe(false);
    // Saturday evening is not Friday: nothing starts then.
    expect(isScheduleActive(night, t('2026-12-12T23:00:00+01:00'))).toBe(false);
    expect(changes(night, t('2026-12-11T12:00:00+01:00'), 2)).toEqual([
      iso(t('2026-12-11T22:00:00+01:00')),
      iso(t('2026-12-12T06:00:00+01:00')),
    ]);
  });

  it('excluding the start date removes the whole period, after midnight too', () => {
    expect(isScheduleActive(night, t('2026-12-25T23:00:00+01:00'))).toBe(false);
    expect(isScheduleActive(night, t('2026-12-26T03:00:00+01:00'))).toBe(false);
    // After Christmas Friday's period is left out, the next one starts on New Year's Day.
    expect(nextScheduleChange(night, t('2026-12-19T06:00:00+01:00'))).toBe(
      t('2027-01-01T22:00:00+01:00'),
    );
  });

  it('excluding the date after the start keeps the part after midnight (it belongs to Friday)', () => {
    // 2026-12-19 (Saturday) is excluded, yet Friday 18th's period runs until 06:00 on the 19th.
    expect(isScheduleActive(night, t('2026-12-19T03:00:00+01:00'))).toBe(true);
    expect(changes(night, t('2026-12-18T12:00:00+01:00'), 4)).toEqual([
      iso(t('2026-12-18T22:00:00+01:00')),
      iso(t('2026-12-19T06:00:00+01:00')),
      // Christmas Friday is excluded: next is New Year's Day, also a Friday.
      iso(t('2027-01-01T22:00:00+01:00')),
      iso(t('2027-01-02T06:00:00+01:00')),
    ]);
  });

  it('to = 00:00 ends at midnight; from = to covers 24 hours', () => {
    const evening = schedule('UTC', [[['mon'], '18:00', '00:00']]);
    expect(isScheduleActive(evening, t('2026-06-08T23:59:00Z'))).toBe(true);
    expect(isScheduleActive(evening, t('2026-06-09T00:00:00Z'))).toBe(false);
    const allDay = schedule('UTC', [[['mon'], '00:00', '00:00']]);
    expect(isScheduleActive(allDay, t('2026-06-08T00:00:00Z'))).toBe(true);
    expect(isScheduleActive(allDay, t('2026-06-08T23:59:59Z'))).toBe(true);
    expect(isScheduleActive(allDay, t('2026-06-09T00:00:00Z'))).toBe(false);
    expect(changes(allDay, t('2026-06-07T12:00:00Z'), 2)).toEqual([
      '2026-06-08T00:00:00.000Z',
      '2026-06-09T00:00:00.000Z',
    ]);
  });
});

describe('DST change days', () => {
  describe('Europe/Berlin spring forward, 2026-03-29 02:00 CET -> 03:00 CEST', () => {
    it('01:00-03:00 is active 01:00-03:00 on the clock: one real hour', () => {
      const s = schedule('Europe/Berlin', [[['sun'], '01:00', '03:00']]);
      expect(isScheduleActive(s, t('2026-03-29T00:59:00+01:00'))).toBe(false);
      expect(isScheduleActive(s, t('2026-03-29T01:00:00+01:00'))).toBe(true);
      expect(isScheduleActive(s, t('2026-03-29T01:59:59+01:00'))).toBe(true);
      expect(isScheduleActive(s, t('2026-03-29T03:00:00+02:00'))).toBe(false);
      expect(changes(s, t('2026-03-28T12:00:00+01:00'), 2)).toEqual([
        '2026-03-29T00:00:00.000Z',
        '2026-03-29T01:00:00.000Z',
      ]);
    });

    it('a period starting at 02:30 (which does not exist) starts at 03:00', () => {
      const s = schedule('Europe/Berlin', [[['sun'], '02:30', '05:00']]);
      expect(isScheduleActive(s, t('2026-03-29T01:59:00+01:00'))).toBe(false);
      expect(isScheduleActive(s, t('2026-03-29T03:00:00+02:00'))).toBe(true);
      expect(changes(s, t('2026-03-28T12:00:00+01:00'), 3)).toEqual([
        iso(t('2026-03-29T03:00:00+02:00')),
        iso(t('2026-03-29T05:00:00+02:00')),
        // The week after, it is a normal 2.5 hour period again.
        iso(t('2026-04-05T02:30:00+02:00')),
      ]);
    });

    it('09:00-17:00 stays 09:00-17:00 local; a night shift across the jump is 7 real hours', () => {
      const day = schedule('Europe/Berlin', [[['sat', 'sun', 'mon'], '09:00', '17:00']]);
      expect(changes(day, t('2026-03-28T12:00:00+01:00'), 4)).toEqual([
        iso(t('2026-03-28T17:00:00+01:00')),
        iso(t('2026-03-29T09:00:00+02:00')),
        iso(t('2026-03-29T17:00:00+02:00')),
        iso(t('2026-03-30T09:00:00+02:00')),
      ]);
      const night = schedule('Europe/Berlin', [[['sat'], '22:00', '06:00']]);
      const [on, off] = changes(night, t('2026-03-28T12:00:00+01:00'), 2);
      expect([on, off]).toEqual(['2026-03-28T21:00:00.000Z', '2026-03-29T04:00:00.000Z']);
      expect(Date.parse(off!) - Date.parse(on!)).toBe(7 * HOUR);
    });
  });

  describe('Europe/Berlin fall back, 2026-10-25 03:00 CEST -> 02:00 CET', () => {
    it('01:00-03:00 covers both 02:xx hours: three real hours', () => {
      const s = schedule('Europe/Berlin', [[['sun'], '01:00', '03:00']]);
      expect(isScheduleActive(s, t('2026-10-25T02:30:00+02:00'))).toBe(true);
      expect(isScheduleActive(s, t('2026-10-25T02:30:00+01:00'))).toBe(true);
      expect(isScheduleActive(s, t('2026-10-25T03:00:00+01:00'))).toBe(false);
      const [on, off] = changes(s, t('2026-10-24T12:00:00+02:00'), 2);
      expect([on, off]).toEqual(['2026-10-24T23:00:00.000Z', '2026-10-25T02:00:00.000Z']);
      expect(Date.parse(off!) - Date.parse(on!)).toBe(3 * HOUR);
    });

    it('09:00-17:00 is 09:00-17:00 on the clock on both sides of the change', () => {
      const s = schedule('Europe/Berlin', [[['sat', 'sun'], '09:00', '17:00']]);
      expect(changes(s, t('2026-10-24T08:00:00+02:00'), 4)).toEqual([
        '2026-10-24T07:00:00.000Z',
        '2026-10-24T15:00:00.000Z',
        '2026-10-25T08:00:00.000Z',
        '2026-10-25T16:00:00.000Z',
      ]);
    });

    it('a boundary inside the repeated hour is passed twice (the clock reading decides)', () => {
      const s = schedule('Europe/Berlin', [[['sun'], '02:30', '05:00']]);
      expect(changes(s, t('2026-10-24T12:00:00+02:00'), 4)).toEqual([
        iso(t('2026-10-25T02:30:00+02:00')),
        // The clock goes back to 02:00: before 02:30 again, so inactive until it reads 02:30.
        iso(t('2026-10-25T02:00:00+01:00')),
        iso(t('2026-10-25T02:30:00+01:00')),
        iso(t('2026-10-25T05:00:00+01:00')),
      ]);
    });
  });

  describe('America/New_York spring forward, 2026-03-08 02:00 EST -> 03:00 EDT', () => {
    it('business hours from Friday to Monday across the change', () => {
      const s = schedule('America/New_York', [[WEEKDAYS_ONLY, '09:00', '17:00']]);
      expect(changes(s, t('2026-03-06T12:00:00-05:00'), 3)).toEqual([
        '2026-03-06T22:00:00.000Z',
        '2026-03-09T13:00:00.000Z',
        '2026-03-09T21:00:00.000Z',
      ]);
    });

    it('01:00-03:00 lasts one hour, 02:30-04:00 starts at 03:00', () => {
      const s = schedule('America/New_York', [[['sun'], '01:00', '03:00']]);
      expect(changes(s, t('2026-03-07T12:00:00-05:00'), 2)).toEqual([
        '2026-03-08T06:00:00.000Z',
        '2026-03-08T07:00:00.000Z',
      ]);
      const late = schedule('America/New_York', [[['sun'], '02:30', '04:00']]);
      expect(changes(late, t('2026-03-07T12:00:00-05:00'), 2)).toEqual([
        '2026-03-08T07:00:00.000Z',
        '2026-03-08T08:00:00.000Z',
      ]);
      expect(isScheduleActive(late, t('2026-03-08T01:59:00-05:00'))).toBe(false);
    });
  });

  describe('America/New_York fall back, 2026-11-01 02:00 EDT -> 01:00 EST', () => {
    it('01:00-02:00 covers both 01:xx hours: two real hours', () => {
      const s = schedule('America/New_York', [[['sun'], '01:00', '02:00']]);
      expect(isScheduleActive(s, t('2026-11-01T01:30:00-04:00'))).toBe(true);
      expect(isScheduleActive(s, t('2026-11-01T01:30:00-05:00'))).toBe(true);
      expect(changes(s, t('2026-10-31T12:00:00-04:00'), 2)).toEqual([
        '2026-11-01T05:00:00.000Z',
        '2026-11-01T07:00:00.000Z',
      ]);
    });

    it('a night shift across the change lasts one hour longer', () => {
      const s = schedule('America/New_York', [[['sat'], '22:00', '06:00']]);
      expect(changes(s, t('2026-10-31T12:00:00-04:00'), 2)).toEqual([
        '2026-11-01T02:00:00.000Z',
        '2026-11-01T11:00:00.000Z',
      ]);
    });
  });

  it('a zone with a 30 minute DST shift (Australia/Lord_Howe, 2026-10-04 02:00 -> 02:30)', () => {
    const s = schedule('Australia/Lord_Howe', [[['sun'], '02:00', '03:00']]);
    expect(changes(s, t('2026-10-03T12:00:00+10:30'), 2)).toEqual([
      iso(t('2026-10-04T02:30:00+11:00')),
      iso(t('2026-10-04T03:00:00+11:00')),
    ]);
  });
});

describe('always, never and far changes', () => {
  const everyDay = schedule('Europe/Berlin', [[[...WEEKDAYS], '00:00', '00:00']]);

  it('an always-active schedule never changes', () => {
    expect(isScheduleActive(everyDay, t('2026-03-29T02:30:00+02:00'))).toBe(true);
    expect(nextScheduleChange(everyDay, t('2026-03-28T12:00:00+01:00'))).toBeUndefined();
  });

  it('a holiday months ahead is found', () => {
    const s = { ...everyDay, excludeDates: ['2027-05-01'] };
    expect(changes(s, t('2026-06-01T00:00:00+02:00'), 3)).toEqual([
      iso(t('2027-05-01T00:00:00+02:00')),
      iso(t('2027-05-02T00:00:00+02:00')),
      undefined,
    ]);
  });

  it('looks past consecutive excluded weeks', () => {
    const s = schedule('UTC', [[['mon'], '10:00', '11:00']], ['2026-06-08', '2026-06-15']);
    expect(nextScheduleChange(s, t('2026-06-07T00:00:00Z'))).toBe(t('2026-06-22T10:00:00Z'));
  });
});

describe('validateSchedule', () => {
  it('accepts a valid schedule', () => {
    expect(
      validateSchedule({
        timezone: 'Europe/Berlin',
        periods: [{ days: ['mon'], from: '22:00', to: '06:00' }],
        excludeDates: ['2026-12-25'],
      }),
    ).toEqual([]);
  });

  it.each([
    [
      { timezone: 'Mars/Olympus', periods: [{ days: ['mon'], from: '09:00', to: '17:00' }] },
      ['schedule.timezone: unknown time zone "Mars/Olympus"'],
    ],
    [
      {
        timezone: 'UTC',
        periods: [
          { days: ['mon'], from: '09:00', to: '17:00' },
          { days: ['monday'], from: '9:00', to: '24:00' },
        ],
      },
      [
        'schedule.periods[1].days[0]: expected one of mon, tue, wed, thu, fri, sat, sun',
        'schedule.periods[1].from: expected HH:MM (00:00 to 23:59; 00:00 as "to" means midnight)',
        'schedule.periods[1].to: expected HH:MM (00:00 to 23:59; 00:00 as "to" means midnight)',
      ],
    ],
    [
      { timezone: 'UTC', periods: [], excludeDates: ['2026-02-30', 'xmas'] },
      [
        'schedule.periods: expected at least one period',
        'schedule.excludeDates[0]: expected a date YYYY-MM-DD',
        'schedule.excludeDates[1]: expected a date YYYY-MM-DD',
      ],
    ],
    [
      { periods: [{ days: [], from: '09:00', to: '17:00', every: 2 }], extra: true },
      [
        'schedule.extra: unknown field',
        'schedule.timezone: expected an IANA time zone name such as "Europe/Berlin"',
        'schedule.periods[0].every: unknown field',
        'schedule.periods[0].days: expected a non-empty array of mon, tue, wed, thu, fri, sat, sun',
      ],
    ],
    ['weekdays', ['schedule: expected an object']],
  ])('reports %j', (input, errors) => {
    expect(validateSchedule(input)).toEqual(errors);
  });

  it('uses the given path prefix', () => {
    expect(validateSchedule({ timezone: 'Nowhere', periods: [] }, 'rules[3].schedule')).toEqual([
      'rules[3].schedule.timezone: unknown time zone "Nowhere"',
      'rules[3].schedule.periods: expected at least one period',
    ]);
  });

  it('the evaluation functions throw InvalidScheduleError for an invalid schedule', () => {
    const bad = { timezone: 'Nowhere', periods: [] } as unknown as Schedule;
    expect(() => isScheduleActive(bad, 0)).toThrow(InvalidScheduleError);
    expect(() => nextScheduleChange(bad, 0)).toThrow(/unknown time zone/);
  });
});

describe('nextScheduleChange (property)', () => {
  const ZONES = [
    'Europe/Berlin',
    'America/New_York',
    'Asia/Tokyo',
    'Australia/Sydney',
    'Australia/Lord_Howe',
    'Asia/Kolkata',
    'America/St_Johns',
    'Pacific/Chatham',
    'UTC',
  ];
  /** DST change days of 2026 in the zones above, so generated instants often land near one. */
  const NEAR = [
    '2026-03-08T00:00:00Z',
    '2026-03-29T00:00:00Z',
    '2026-04-05T00:00:00Z',
    '2026-09-27T00:00:00Z',
    '2026-10-04T00:00:00Z',
    '2026-10-25T00:00:00Z',
    '2026-11-01T00:00:00Z',
  ].map(t);
  const time = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
    fc.constantFrom('00:00', '01:00', '02:00', '02:30', '03:00', '09:00', '17:00', '22:00'),
  );
  const period = fc.record({
    days: fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1, maxLength: 7 }),
    from: time,
    to: time,
  });
  const date = fc
    .integer({ min: 0, max: 400 })
    .map((d) => new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
  const arbSchedule: fc.Arbitrary<Schedule> = fc.record({
    timezone: fc.constantFrom(...ZONES),
    periods: fc.array(period, { minLength: 1, maxLength: 3 }),
    excludeDates: fc.array(date, { maxLength: 6 }),
  });
  const instant = fc.oneof(
    fc.integer({ min: t('2026-01-01T00:00:00Z'), max: t('2027-01-01T00:00:00Z') }),
    fc
      .tuple(fc.constantFrom(...NEAR), fc.integer({ min: -3 * 86_400_000, max: 86_400_000 }))
      .map(([base, offset]) => base + offset),
  );

  it('the state is constant on [at, next) and flips at next', () => {
    fc.assert(
      fc.property(arbSchedule, instant, (s, at) => {
        const state = isScheduleActive(s, at);
        const next = nextScheduleChange(s, at);
        // Periods start and end on whole minutes of the clock, and every zone's offset is whole
        // minutes, so checking each whole minute in between sees any change.
        const end = next ?? at + 16 * 86_400_000;
        const checkUntil = Math.min(end, at + 3 * 86_400_000);
        for (let m = Math.ceil((at + 1) / MIN) * MIN; m < checkUntil; m += MIN) {
          if (isScheduleActive(s, m) !== state) {
            throw new Error(`changed at ${iso(m)} before ${iso(next)}`);
          }
        }
        // Beyond three days, sample.
        for (let i = 1; i < 50 && checkUntil < end; i++) {
          const sample = checkUntil + Math.floor(((end - checkUntil) * i) / 50);
          expect(isScheduleActive(s, sample)).toBe(state);
        }
        if (next !== undefined) {
          expect(next).toBeGreaterThan(at);
          expect(isScheduleActive(s, next)).toBe(!state);
        }
      }),
      { numRuns: 150 },
    );
  });
});
