import { describe, expect, it } from 'vitest';
import { evaluateCondition } from '../../actors/rules/eval/condition.ts';
import type { Condition, Scalar } from '../../actors/rules/model.ts';
import { MIN, type Reading, SEC, T0, viewOf } from './eval-fixtures.ts';

type Case = [
  name: string,
  condition: Condition,
  readings: readonly Reading[],
  at: number,
  expected: boolean,
  attributes?: Record<string, Scalar>,
];

const r = (at: number, metrics: Record<string, Scalar>): Reading => [at, metrics];
const t5 = [r(0, { t: 5 })];
const text = [r(0, { s: 'on' })];
const flag = [r(0, { b: true })];

const cases: Case[] = [
  // ordering and equality on numbers
  ['5 > 4', { metric: 't', op: '>', value: 4 }, t5, 0, true],
  ['5 > 5', { metric: 't', op: '>', value: 5 }, t5, 0, false],
  ['5 >= 5', { metric: 't', op: '>=', value: 5 }, t5, 0, true],
  ['5 < 6', { metric: 't', op: '<', value: 6 }, t5, 0, true],
  ['5 < 5', { metric: 't', op: '<', value: 5 }, t5, 0, false],
  ['5 <= 5', { metric: 't', op: '<=', value: 5 }, t5, 0, true],
  ['5 == 5', { metric: 't', op: '==', value: 5 }, t5, 0, true],
  ['5 != 5', { metric: 't', op: '!=', value: 5 }, t5, 0, false],
  ['5 != 4', { metric: 't', op: '!=', value: 4 }, t5, 0, true],
  [
    'latest value counts',
    { metric: 't', op: '>', value: 6 },
    [r(0, { t: 9 }), r(SEC, { t: 5 })],
    SEC,
    false,
  ],
  // strings and booleans
  ['"on" == "on"', { metric: 's', op: '==', value: 'on' }, text, 0, true],
  ['"on" != "off"', { metric: 's', op: '!=', value: 'off' }, text, 0, true],
  ['true == true', { metric: 'b', op: '==', value: true }, flag, 0, true],
  ['true != false', { metric: 'b', op: '!=', value: false }, flag, 0, true],
  // type mismatches are false, != included
  ['"on" > 1', { metric: 's', op: '>', value: 1 }, text, 0, false],
  ['"on" == 1', { metric: 's', op: '==', value: 1 }, text, 0, false],
  ['"on" != 1', { metric: 's', op: '!=', value: 1 }, text, 0, false],
  ['5 == "5"', { metric: 't', op: '==', value: '5' }, t5, 0, false],
  ['5 != "5"', { metric: 't', op: '!=', value: '5' }, t5, 0, false],
  ['true == 1', { metric: 'b', op: '==', value: 1 }, flag, 0, false],
  [
    '"b" > "a" (strings are not ordered)',
    { metric: 's', op: '>', value: 'a' } as unknown as Condition,
    text,
    0,
    false,
  ],
  // missing metric: not breaching; not() flips it as written
  ['never reported >', { metric: 'x', op: '>', value: 1 }, t5, 0, false],
  ['never reported !=', { metric: 'x', op: '!=', value: 1 }, t5, 0, false],
  ['not(never reported >)', { not: { metric: 'x', op: '>', value: 1 } }, t5, 0, true],
  ['no readings at all', { metric: 't', op: '<', value: 100 }, [], 0, false],
  // attribute operands
  [
    'attribute used',
    { metric: 't', op: '>', value: { attribute: 'max', default: 30 } },
    t5,
    0,
    true,
    { max: 4 },
  ],
  [
    'default without attributes',
    { metric: 't', op: '>', value: { attribute: 'max', default: 30 } },
    t5,
    0,
    false,
  ],
  [
    'default when attribute has another type',
    { metric: 't', op: '>', value: { attribute: 'max', default: 30 } },
    t5,
    0,
    false,
    { max: '4' },
  ],
  [
    'default when attribute is absent',
    { metric: 't', op: '>', value: { attribute: 'max', default: 3 } },
    t5,
    0,
    true,
    { min: 99 },
  ],
  [
    'inherited property is not an attribute',
    { metric: 't', op: '>', value: { attribute: 'toString', default: 3 } },
    t5,
    0,
    true,
    {},
  ],
  [
    'string attribute',
    { metric: 's', op: '==', value: { attribute: 'expected', default: 'off' } },
    text,
    0,
    true,
    { expected: 'on' },
  ],
  // ranges
  ['between inclusive low', { metric: 't', op: 'between', low: 5, high: 8 }, t5, 0, true],
  ['between inclusive high', { metric: 't', op: 'between', low: 1, high: 5 }, t5, 0, true],
  ['between outside', { metric: 't', op: 'between', low: 6, high: 8 }, t5, 0, false],
  ['outside below', { metric: 't', op: 'outside', low: 6, high: 8 }, t5, 0, true],
  ['outside above', { metric: 't', op: 'outside', low: 1, high: 4 }, t5, 0, true],
  ['outside at the edge', { metric: 't', op: 'outside', low: 5, high: 8 }, t5, 0, false],
  ['between on a string', { metric: 's', op: 'between', low: 0, high: 9 }, text, 0, false],
  ['outside on a string', { metric: 's', op: 'outside', low: 0, high: 9 }, text, 0, false],
  [
    'between by attributes',
    {
      metric: 't',
      op: 'between',
      low: { attribute: 'lo', default: 0 },
      high: { attribute: 'hi', default: 1 },
    },
    t5,
    0,
    true,
    { lo: 4, hi: 6 },
  ],
  [
    'inverted range by attributes holds nothing',
    { metric: 't', op: 'outside', low: { attribute: 'lo', default: 0 }, high: 1 },
    t5,
    0,
    false,
    { lo: 9 },
  ],
  // membership
  ['in', { metric: 's', op: 'in', values: ['off', 'on'] }, text, 0, true],
  ['in, absent', { metric: 's', op: 'in', values: ['off'] }, text, 0, false],
  ['in, mixed types', { metric: 't', op: 'in', values: ['5', 5] }, t5, 0, true],
  ['not_in', { metric: 's', op: 'not_in', values: ['off'] }, text, 0, true],
  ['not_in, present', { metric: 's', op: 'not_in', values: ['on'] }, text, 0, false],
  ['not_in, type mismatch', { metric: 's', op: 'not_in', values: [1, 2] }, text, 0, false],
  ['not_in, never reported', { metric: 'x', op: 'not_in', values: ['a'] }, text, 0, false],
  // changed
  ['changed, one reading', { metric: 't', op: 'changed' }, t5, 0, false],
  [
    'changed, same value',
    { metric: 't', op: 'changed' },
    [r(0, { t: 5 }), r(SEC, { t: 5 })],
    SEC,
    false,
  ],
  [
    'changed, new value',
    { metric: 't', op: 'changed' },
    [r(0, { t: 5 }), r(SEC, { t: 6 })],
    SEC,
    true,
  ],
  [
    'changed, back to same',
    { metric: 't', op: 'changed' },
    [r(0, { t: 5 }), r(SEC, { t: 6 }), r(2 * SEC, { t: 6 })],
    2 * SEC,
    false,
  ],
  [
    'changed, type change',
    { metric: 'x', op: 'changed' },
    [r(0, { x: 1 }), r(SEC, { x: '1' })],
    SEC,
    true,
  ],
  [
    'changed, other metric does not count',
    { metric: 't', op: 'changed' },
    [r(0, { t: 5 }), r(SEC, { u: 1 })],
    SEC,
    false,
  ],
  // rate (per minute by default)
  [
    'rate up',
    { metric: 't', op: 'rate', cmp: '>', value: 5 },
    [r(0, { t: 10 }), r(30 * SEC, { t: 13 })],
    30 * SEC,
    true,
  ],
  [
    'rate exactly',
    { metric: 't', op: 'rate', cmp: '>', value: 6 },
    [r(0, { t: 10 }), r(30 * SEC, { t: 13 })],
    30 * SEC,
    false,
  ],
  [
    'rate per second',
    { metric: 't', op: 'rate', per: '1s', cmp: '==', value: 0.1 },
    [r(0, { t: 10 }), r(30 * SEC, { t: 13 })],
    30 * SEC,
    true,
  ],
  [
    'rate down, abs',
    { metric: 't', op: 'rate', per: '1h', cmp: '>=', value: 60, abs: true },
    [r(0, { t: 10 }), r(MIN, { t: 9 })],
    MIN,
    true,
  ],
  ['rate needs two readings', { metric: 't', op: 'rate', cmp: '<', value: 100 }, t5, 0, false],
  [
    'rate of strings',
    { metric: 's', op: 'rate', cmp: '<', value: 100 },
    [r(0, { s: 'a' }), r(SEC, { s: 'b' })],
    SEC,
    false,
  ],
  // missing
  ['missing metric after for', { metric: 't', op: 'missing', for: '10m' }, t5, 10 * MIN, true],
  [
    'missing metric before for',
    { metric: 't', op: 'missing', for: '10m' },
    t5,
    10 * MIN - 1,
    false,
  ],
  [
    'never reported counts from the history start',
    { metric: 'x', op: 'missing', for: '10m' },
    [],
    10 * MIN,
    true,
  ],
  [
    'other metrics do not feed a missing metric',
    { metric: 't', op: 'missing', for: '10m' },
    [r(0, { t: 5 }), r(9 * MIN, { u: 1 })],
    10 * MIN,
    true,
  ],
  [
    'any telemetry keeps missing-any false',
    { op: 'missing', for: '10m' },
    [r(0, { t: 5 }), r(9 * MIN, { u: 1 })],
    10 * MIN,
    false,
  ],
  [
    'missing any',
    { op: 'missing', for: '10m' },
    [r(0, { t: 5 }), r(9 * MIN, { u: 1 })],
    19 * MIN,
    true,
  ],
  // nesting: OR across two metrics, AND, NOT
  [
    'OR across two metrics, second',
    {
      any: [
        { metric: 't', op: '>', value: 30 },
        { metric: 'h', op: '>', value: 80 },
      ],
    },
    [r(0, { t: 5, h: 90 })],
    0,
    true,
  ],
  [
    'OR across two metrics, neither',
    {
      any: [
        { metric: 't', op: '>', value: 30 },
        { metric: 'h', op: '>', value: 80 },
      ],
    },
    [r(0, { t: 5, h: 50 })],
    0,
    false,
  ],
  [
    'OR with one metric never reported',
    {
      any: [
        { metric: 't', op: '>', value: 30 },
        { metric: 'h', op: '>', value: 80 },
      ],
    },
    [r(0, { t: 31 })],
    0,
    true,
  ],
  [
    'AND across metrics',
    {
      all: [
        { metric: 't', op: '>', value: 3 },
        { metric: 's', op: '==', value: 'on' },
      ],
    },
    [r(0, { t: 5, s: 'on' })],
    0,
    true,
  ],
  [
    'AND with one false',
    {
      all: [
        { metric: 't', op: '>', value: 3 },
        { metric: 's', op: '==', value: 'off' },
      ],
    },
    [r(0, { t: 5, s: 'on' })],
    0,
    false,
  ],
  [
    'AND of three',
    {
      all: [
        { metric: 't', op: '>', value: 3 },
        { metric: 't', op: '<', value: 6 },
        { metric: 't', op: '!=', value: 4 },
      ],
    },
    t5,
    0,
    true,
  ],
  [
    'ANY of three',
    {
      any: [
        { metric: 't', op: '>', value: 30 },
        { metric: 't', op: '<', value: -6 },
        { metric: 't', op: '==', value: 5 },
      ],
    },
    t5,
    0,
    true,
  ],
  ['NOT', { not: { metric: 't', op: '>', value: 3 } }, t5, 0, false],
  [
    'nested',
    {
      all: [
        { any: [{ not: { metric: 't', op: '<', value: 0 } }, { metric: 'x', op: '==', value: 1 }] },
        { metric: 't', op: '>=', value: 5 },
      ],
    },
    t5,
    0,
    true,
  ],
];

describe('evaluateCondition', () => {
  it.each(cases)('%s', (_name, condition, readings, at, expected, attributes) => {
    const view = viewOf(readings, { attributes });
    expect(evaluateCondition(condition, view, T0 + at)).toBe(expected);
  });

  it('delta over a window: latest minus the oldest reading inside it', () => {
    const windows = { t: 10 * MIN };
    const readings = [r(0, { t: 10 }), r(5 * MIN, { t: 14 }), r(8 * MIN, { t: 13 })];
    const view = viewOf(readings, { windows });
    const up3 = { metric: 't', op: 'delta', window: '10m', cmp: '>=', value: 3 } as const;
    expect(evaluateCondition(up3, view, T0 + 8 * MIN)).toBe(true); // 13 - 10
    expect(evaluateCondition(up3, view, T0 + 10 * MIN - 1)).toBe(true);
    // At 10m the reading at 0 leaves the window: 13 - 14 = -1.
    expect(evaluateCondition(up3, view, T0 + 10 * MIN)).toBe(false);
    const down = { metric: 't', op: 'delta', window: '10m', cmp: '<', value: 0 } as const;
    expect(evaluateCondition(down, view, T0 + 10 * MIN)).toBe(true);
    const abs = { ...down, cmp: '>=', value: 1, abs: true } as const;
    expect(evaluateCondition(abs, view, T0 + 10 * MIN)).toBe(true);
    // A single reading left in the window: no delta.
    expect(evaluateCondition({ ...abs, value: 0 }, view, T0 + 15 * MIN)).toBe(false);
  });

  it('delta uses its own window when the history keeps a longer one', () => {
    const readings = [r(0, { t: 10 }), r(5 * MIN, { t: 14 }), r(8 * MIN, { t: 13 })];
    const view = viewOf(readings, { windows: { t: 60 * MIN } });
    const short = { metric: 't', op: 'delta', window: '4m', cmp: '==', value: -1 } as const;
    expect(evaluateCondition(short, view, T0 + 8 * MIN)).toBe(true);
    const long = { metric: 't', op: 'delta', window: '1h', cmp: '==', value: 3 } as const;
    expect(evaluateCondition(long, view, T0 + 8 * MIN)).toBe(true);
  });

  it('delta is false when the latest value is not a number or no window is kept', () => {
    const view = viewOf([r(0, { t: 1 }), r(MIN, { t: 5 }), r(2 * MIN, { t: 'broken' })], {
      windows: { t: 10 * MIN },
    });
    const c = { metric: 't', op: 'delta', window: '10m', cmp: '>', value: 0 } as const;
    expect(evaluateCondition(c, view, T0 + 2 * MIN)).toBe(false);
    expect(evaluateCondition(c, viewOf([r(0, { t: 1 }), r(MIN, { t: 5 })]), T0 + MIN)).toBe(false);
  });

  it('silenceFrom holds missing back (startup grace)', () => {
    const c = { metric: 't', op: 'missing', for: '10m' } as const;
    const view = viewOf(t5, { silenceFrom: 60 * MIN });
    expect(evaluateCondition(c, view, T0 + 65 * MIN)).toBe(false);
    expect(evaluateCondition(c, view, T0 + 70 * MIN)).toBe(true);
  });

  it('evaluates nesting 32 levels deep', () => {
    let c: Condition = { metric: 't', op: '==', value: 5 };
    for (let i = 1; i < 32; i++)
      c = i % 3 === 0 ? { all: [c] } : i % 3 === 1 ? { any: [c] } : { not: { not: c } };
    expect(evaluateCondition(c, viewOf(t5), T0)).toBe(true);
    expect(evaluateCondition({ not: c }, viewOf(t5), T0)).toBe(false);
  });
});
