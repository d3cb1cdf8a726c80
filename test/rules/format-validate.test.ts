import { describe, expect, it } from 'vitest';
import { formatRuleErrors } from '../../actors/rules/format/paths.ts';
import { validateRule } from '../../actors/rules/format/validate.ts';

const base = {
  name: 'Cold room too warm',
  scope: { type: 'group', group: 'cold-room' },
  condition: { metric: 'temperature', op: '>', value: 8 },
  severity: 'major',
};

type Json = Record<string, unknown>;
const withField = (patch: Json): Json => ({ ...base, ...patch });
const withCondition = (condition: unknown): Json => ({ ...base, condition });

function errorsOf(input: unknown): string[] {
  const result = validateRule(input);
  if (result.ok) return [];
  return formatRuleErrors(result.errors);
}

/** A condition nested `depth` levels deep (the leaf is level `depth`). */
function nested(depth: number): unknown {
  let c: unknown = { metric: 't', op: '>', value: 1 };
  for (let i = 1; i < depth; i++) c = i % 2 === 0 ? { not: c } : { all: [c] };
  return c;
}

const cases: [string, unknown, string][] = [
  ['not an object', 5, 'rule: expected an object'],
  ['missing name', { ...base, name: undefined }, 'name: is required'],
  ['empty name', withField({ name: '' }), 'name: must not be empty'],
  ['unknown field', withField({ colour: 'red' }), 'colour: unknown field'],
  [
    'ordering against a string',
    withCondition({ metric: 't', op: '>', value: 'hot' }),
    'condition.value: expected a number',
  ],
  [
    'the issue example',
    withCondition({
      all: [
        { metric: 'a', op: '>', value: 1 },
        { metric: 'b', op: '<', value: 2 },
        { metric: 'c', op: '>=', value: 'x' },
      ],
    }),
    'condition.all[2].value: expected a number',
  ],
  [
    'unknown op',
    withCondition({ metric: 't', op: '~', value: 1 }),
    'condition.op: expected one of ">"',
  ],
  ['no op', withCondition({ metric: 't', value: 1 }), 'condition: expected a condition'],
  ['not an object condition', withCondition({ any: [3] }), 'condition.any[0]: expected an object'],
  ['empty all', withCondition({ all: [] }), 'condition.all: must not be empty'],
  [
    'all and any',
    withCondition({ all: [nested(1)], any: [nested(1)] }),
    'condition.any: unknown field',
  ],
  [
    'extra key on a leaf',
    withCondition({ metric: 't', op: 'changed', value: 1 }),
    'condition.value: unknown field',
  ],
  [
    'between inverted',
    withCondition({ metric: 't', op: 'between', low: 9, high: 2 }),
    'condition.low: must not be greater than high (9 > 2)',
  ],
  [
    'between without high',
    withCondition({ metric: 't', op: 'outside', low: 1 }),
    'condition.high: is required',
  ],
  [
    'in without values',
    withCondition({ metric: 't', op: 'in', values: [] }),
    'condition.values: must not be empty',
  ],
  [
    'in with an object',
    withCondition({ metric: 't', op: 'in', values: [{}] }),
    'condition.values[0]: expected a number, a string or a boolean',
  ],
  [
    'delta unknown unit',
    withCondition({ metric: 't', op: 'delta', window: '5x', cmp: '>', value: 1 }),
    'condition.window: unknown unit "x"',
  ],
  [
    'delta zero window',
    withCondition({ metric: 't', op: 'delta', window: '0s', cmp: '>', value: 1 }),
    'condition.window: must be longer than 0',
  ],
  [
    'delta bad cmp',
    withCondition({ metric: 't', op: 'delta', window: '5m', cmp: '=>', value: 1 }),
    'condition.cmp: expected one of',
  ],
  [
    'rate without unit',
    withCondition({ metric: 't', op: 'rate', per: '5', cmp: '>', value: 1 }),
    'condition.per: missing unit',
  ],
  ['missing without for', withCondition({ op: 'missing' }), 'condition.for: is required'],
  [
    'missing with a number',
    withCondition({ op: 'missing', for: 600 }),
    'condition.for: expected a duration',
  ],
  [
    'attribute without default',
    withCondition({ metric: 't', op: '>', value: { attribute: 'max' } }),
    'condition.value.default: is required',
  ],
  [
    'numeric attribute default',
    withCondition({ metric: 't', op: '>', value: { attribute: 'max', default: 'x' } }),
    'condition.value.default: expected a number',
  ],
  [
    'empty attribute name',
    withCondition({ metric: 't', op: '==', value: { attribute: '', default: 'x' } }),
    'condition.value.attribute: must not be empty',
  ],
  [
    'control char in metric',
    withCondition({ metric: 'a\u0001b', op: 'changed' }),
    'condition.metric: must not contain control characters',
  ],
  [
    'reserved metric',
    withCondition({ metric: '__proto__', op: 'changed' }),
    'condition.metric: "__proto__" is a reserved metric name',
  ],
  [
    'long metric',
    withCondition({ metric: 'm'.repeat(129), op: 'changed' }),
    'condition.metric: expected at most 128 characters',
  ],
  [
    'unpaired surrogate',
    withCondition({ metric: 'a\ud800', op: 'changed' }),
    'condition.metric: metric name contains an unpaired surrogate',
  ],
  ['too deep', withCondition(nested(33)), 'conditions nest deeper than 32 levels'],
  [
    'clear too',
    withField({ clear: { metric: 't', op: '<', value: '5' } }),
    'clear.value: expected a number',
  ],
  ['for with spaces', withField({ for: '10 min' }), 'for: expected a duration like'],
  ['for compound', withField({ for: '1h30m' }), 'for: expected one number and one unit'],
  ['for negative', withField({ for: '-5m' }), 'for: expected a duration'],
  ['for too long', withField({ for: '4000d' }), 'for: "4000d" is longer than 3650d'],
  [
    'autoResolveAfter zero',
    withField({ autoResolveAfter: '0m' }),
    'autoResolveAfter: must be longer than 0',
  ],
  ['count zero', withField({ count: 0 }), 'count: expected a number >= 1'],
  ['count fraction', withField({ count: 1.5 }), 'count: expected an integer'],
  [
    'unknown severity',
    withField({ severity: 'fatal' }),
    'severity: expected one of "critical", "major"',
  ],
  ['numeric severity', withField({ severity: 5 }), 'severity: expected a severity'],
  [
    'severity without default',
    withField({ severity: { bands: [] } }),
    'severity.default: is required',
  ],
  [
    'bad band',
    withField({
      severity: {
        default: 'minor',
        bands: [{ when: { metric: 't', op: '>' }, severity: 'major' }],
      },
    }),
    'severity.bands[0].when.value: is required',
  ],
  [
    'bad escalation',
    withField({ severity: { default: 'minor', escalate: [{ after: 'soon', severity: 'major' }] } }),
    'severity.escalate[0].after: expected a duration',
  ],
  [
    'unknown scope type',
    withField({ scope: { type: 'site' } }),
    'scope.type: expected one of "device"',
  ],
  [
    'group scope without group',
    withField({ scope: { type: 'group' } }),
    'scope.group: is required',
  ],
  ['tags scope without tags', withField({ scope: { type: 'tags' } }), 'scope: a tags scope needs'],
  [
    'empty device list',
    withField({ scope: { type: 'devices', devices: [] } }),
    'scope.devices: must not be empty',
  ],
  [
    'repeated device',
    withField({ scope: { type: 'devices', devices: ['a', 'b', 'a'] } }),
    'scope.devices: "a" appears more than once',
  ],
  [
    'device scope extra',
    withField({ scope: { type: 'device', device: 'a', group: 'g' } }),
    'scope.group: unknown field',
  ],
  [
    'unknown zone',
    withField({
      schedule: {
        timezone: 'Mars/Olympus',
        periods: [{ days: ['mon'], from: '08:00', to: '18:00' }],
      },
    }),
    'schedule.timezone: unknown time zone "Mars/Olympus"',
  ],
  [
    'bad time',
    withField({
      schedule: { timezone: 'UTC', periods: [{ days: ['mon'], from: '08:00', to: '24:00' }] },
    }),
    'schedule.periods[0].to: expected a time HH:MM',
  ],
  [
    'repeated weekday',
    withField({
      schedule: {
        timezone: 'UTC',
        periods: [{ days: ['mon', 'tue', 'mon'], from: '08:00', to: '18:00' }],
      },
    }),
    'schedule.periods[0].days: "mon" appears more than once',
  ],
  [
    'unknown weekday',
    withField({
      schedule: { timezone: 'UTC', periods: [{ days: ['monday'], from: '08:00', to: '18:00' }] },
    }),
    'schedule.periods[0].days[0]: expected one of "mon"',
  ],
  [
    'no periods',
    withField({ schedule: { timezone: 'UTC', periods: [] } }),
    'schedule.periods: must not be empty',
  ],
  [
    'impossible date',
    withField({
      schedule: {
        timezone: 'UTC',
        periods: [{ days: ['mon'], from: '08:00', to: '18:00' }],
        excludeDates: ['2026-02-30'],
      },
    }),
    'schedule.excludeDates[0]: "2026-02-30" is not a calendar date',
  ],
  [
    'badly written date',
    withField({
      schedule: {
        timezone: 'UTC',
        periods: [{ days: ['mon'], from: '08:00', to: '18:00' }],
        excludeDates: ['2026-1-1'],
      },
    }),
    'schedule.excludeDates[0]: expected a date YYYY-MM-DD',
  ],
  [
    'aggregate without threshold',
    withField({ aggregate: { window: '10m' } }),
    'aggregate: needs minDevices or minPercent',
  ],
  [
    'aggregate zero percent',
    withField({ aggregate: { window: '10m', minPercent: 0 } }),
    'aggregate.minPercent: expected a number > 0',
  ],
  [
    'aggregate over 100 percent',
    withField({ aggregate: { window: '10m', minPercent: 120 } }),
    'aggregate.minPercent: expected a number <= 100',
  ],
  [
    'aggregate zero devices',
    withField({ aggregate: { window: '10m', minDevices: 0 } }),
    'aggregate.minDevices: expected a number >= 1',
  ],
  [
    'aggregate clearBelow above',
    withField({ aggregate: { window: '10m', minDevices: 3, clearBelow: 5 } }),
    'aggregate.clearBelow: must not exceed minDevices (3)',
  ],
  [
    'aggregate clearBelow percent',
    withField({ aggregate: { window: '10m', minPercent: 10, clearBelow: 20 } }),
    'aggregate.clearBelow: must not exceed minPercent (10)',
  ],
  [
    'aggregate window',
    withField({ aggregate: { minDevices: 3 } }),
    'aggregate.window: is required',
  ],
  [
    'flapping zero',
    withField({ flapping: { maxTransitions: 0, window: '1h' } }),
    'flapping.maxTransitions: expected a number >= 1',
  ],
  [
    'flapping zero window',
    withField({ flapping: { maxTransitions: 4, window: '0s' } }),
    'flapping.window: must be longer than 0',
  ],
  [
    'inhibits bad match',
    withField({ inhibits: { rules: ['r1'], match: 'near' } }),
    'inhibits.match: expected one of "same-device"',
  ],
  [
    'inhibits no rules',
    withField({ inhibits: { rules: [], match: 'all' } }),
    'inhibits.rules: must not be empty',
  ],
  [
    'label value',
    withField({ labels: { 'team name': 7 } }),
    'labels["team name"]: expected a string',
  ],
  ['enabled string', withField({ enabled: 'yes' }), 'enabled: expected a boolean'],
];

describe('validateRule', () => {
  it.each(cases)('%s', (_name, input, expected) => {
    const errors = errorsOf(input);
    expect(
      errors.some((e) => e.startsWith(expected) || e.includes(expected)),
      errors.join('\n'),
    ).toBe(true);
  });

  it('reports exactly the issue example, once, with nothing else', () => {
    const input = withCondition({
      all: [
        { metric: 'a', op: '>', value: 1 },
        { metric: 'b', op: 'changed' },
        { metric: 'c', op: '>', value: 'x' },
      ],
    });
    expect(errorsOf(input)).toEqual(['condition.all[2].value: expected a number']);
  });

  it('reports only the branch a condition meant', () => {
    const errors = errorsOf(
      withCondition({ any: [{ metric: 't', op: 'between', low: 1, high: 'x' }] }),
    );
    expect(errors).toEqual(['condition.any[0].high: expected a number']);
  });

  it('reports every problem at once', () => {
    const errors = errorsOf({
      name: '',
      scope: { type: 'group' },
      condition: { op: '>' },
      severity: 'x',
      for: 'soon',
    });
    expect(errors.length).toBeGreaterThanOrEqual(5);
  });

  it('accepts nesting of exactly 32 levels', () => {
    expect(errorsOf(withCondition(nested(32)))).toEqual([]);
  });

  it('refuses absurd nesting and cycles without running out of stack', () => {
    const cyclic: Json = { ...base };
    cyclic.condition = { all: [cyclic] };
    expect(errorsOf(cyclic)[0]).toContain('nests deeper than 100 levels');
    expect(errorsOf(withCondition(nested(20_000)))[0]).toContain('nests deeper than');
  });

  it('refuses id, tenantId and version: they are not part of a definition', () => {
    expect(errorsOf(withField({ id: 'r1' }))).toEqual([
      expect.stringMatching(/^id: unknown field/),
    ]);
  });

  it('never throws on exotic input', () => {
    const throwing = Object.defineProperty({ ...base }, 'name', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    for (const input of [
      undefined,
      null,
      1n,
      Symbol('x'),
      () => 1,
      Object.create(null),
      throwing,
      [base],
    ]) {
      const result = validateRule(input);
      expect(result.ok).toBe(false);
    }
  });

  it('returns the rule itself on success', () => {
    const result = validateRule(base);
    expect(result).toEqual({ ok: true, rule: base });
  });

  it('accepts every condition kind', () => {
    const leaves = [
      { metric: 't', op: '>', value: 1 },
      { metric: 't', op: '>=', value: { attribute: 'max', default: 30 } },
      { metric: 't', op: '<', value: -1.5 },
      { metric: 't', op: '<=', value: 0 },
      { metric: 'state', op: '==', value: 'open' },
      { metric: 'door', op: '!=', value: true },
      { metric: 'mode', op: '==', value: { attribute: 'expectedMode', default: 'auto' } },
      { metric: 't', op: 'between', low: 2, high: 8 },
      { metric: 't', op: 'outside', low: { attribute: 'min', default: 2 }, high: 8 },
      { metric: 'state', op: 'in', values: ['error', 'fault', 3, false] },
      { metric: 'state', op: 'not_in', values: ['ok'] },
      { metric: 'fw', op: 'changed' },
      { metric: 't', op: 'delta', window: '10m', cmp: '>', value: 5, abs: true },
      { metric: 't', op: 'rate', per: '1h', cmp: '<', value: -3 },
      { metric: 't', op: 'rate', cmp: '>', value: 1 },
      { metric: 't', op: 'missing', for: '10m' },
      { op: 'missing', for: '1h' },
    ];
    for (const leaf of leaves)
      expect(errorsOf(withCondition(leaf)), JSON.stringify(leaf)).toEqual([]);
  });

  it('accepts a rule using every top-level feature', () => {
    const rule = {
      name: 'Freezer',
      description: 'all features',
      enabled: true,
      scope: { type: 'tags', all: ['freezer'], any: ['site-a', 'site-b'] },
      condition: {
        any: [
          { metric: 'temperature', op: '>', value: { attribute: 'maxTemp', default: -15 } },
          { metric: 'door', op: '==', value: 'open' },
        ],
      },
      clear: { metric: 'temperature', op: '<', value: -18 },
      for: '5m',
      count: 3,
      autoResolveAfter: '1h',
      severity: {
        default: 'minor',
        bands: [{ when: { metric: 'temperature', op: '>', value: 0 }, severity: 'critical' }],
        escalate: [{ after: '30m', severity: 'major' }],
      },
      schedule: {
        timezone: 'Europe/Berlin',
        periods: [
          { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' },
          { days: ['sat'], from: '22:00', to: '06:00' },
        ],
        excludeDates: ['2026-12-25'],
      },
      aggregate: { minDevices: 3, minPercent: 10, window: '10m', clearBelow: 2 },
      flapping: { maxTransitions: 5, window: '1h' },
      inhibits: { rules: ['r-7'], match: 'behind' },
      escalationPolicy: 'ops-default',
      labels: { team: 'cold-chain' },
    };
    expect(errorsOf(rule)).toEqual([]);
  });
});
