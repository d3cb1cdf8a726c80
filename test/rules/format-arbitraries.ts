/** fast-check generators of valid rule definitions, shared by the format and eval properties. */
import fc from 'fast-check';
import type { Condition, RuleDefinition, Scope, SeveritySpec } from '../../actors/rules/model.ts';

export const METRICS = [
  'temperature',
  'humidity',
  'door',
  'state',
  'SI7021__Temperature',
  'temp °C',
];
const SEVERITY_NAMES = ['critical', 'major', 'minor', 'warning', 'info'] as const;
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const COMPARE = ['>', '>=', '<', '<=', '==', '!='] as const;

export const metricArb = fc.constantFrom(...METRICS);
export const numberArb = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
export const scalarArb = fc.oneof(numberArb, fc.string({ maxLength: 8 }), fc.boolean());
export const durationArb = fc
  .tuple(fc.integer({ min: 1, max: 500 }), fc.constantFrom('ms', 's', 'm', 'h', 'd'))
  .map(([n, u]) => `${n}${u}`);
/** Generators whose numbers and durations come from the given arbitraries. */
export function ruleArbitraries(number: fc.Arbitrary<number>, duration: fc.Arbitrary<string>) {
  const scalar = fc.oneof(number, fc.string({ maxLength: 8 }), fc.boolean());
  const attributeArb = fc.constantFrom('maxTemp', 'minTemp', 'mode');
  const numericOperandArb = fc.oneof(
    number,
    fc.record({ attribute: attributeArb, default: number }),
  );
  const operandArb = fc.oneof(scalar, fc.record({ attribute: attributeArb, default: scalar }));

  const leafArb: fc.Arbitrary<Condition> = fc.oneof(
    fc.record({
      metric: metricArb,
      op: fc.constantFrom('>', '>=', '<', '<='),
      value: numericOperandArb,
    }),
    fc.record({ metric: metricArb, op: fc.constantFrom('==', '!='), value: operandArb }),
    fc
      .record({
        metric: metricArb,
        op: fc.constantFrom('between', 'outside'),
        a: number,
        b: number,
      })
      .map(({ metric, op, a, b }) => ({ metric, op, low: Math.min(a, b), high: Math.max(a, b) })),
    fc.record({
      metric: metricArb,
      op: fc.constantFrom('in', 'not_in'),
      values: fc.array(scalar, { minLength: 1, maxLength: 4 }),
    }),
    fc.record({ metric: metricArb, op: fc.constant('changed') }),
    fc.record(
      {
        metric: metricArb,
        op: fc.constant('delta'),
        window: duration,
        cmp: fc.constantFrom(...COMPARE),
        value: numericOperandArb,
        abs: fc.boolean(),
      },
      { requiredKeys: ['metric', 'op', 'window', 'cmp', 'value'] },
    ),
    fc.record(
      {
        metric: metricArb,
        op: fc.constant('rate'),
        per: duration,
        cmp: fc.constantFrom(...COMPARE),
        value: numericOperandArb,
        abs: fc.boolean(),
      },
      { requiredKeys: ['metric', 'op', 'cmp', 'value'] },
    ),
    fc.record(
      { metric: metricArb, op: fc.constant('missing'), for: duration },
      { requiredKeys: ['op', 'for'] },
    ),
  ) as fc.Arbitrary<Condition>;

  const conditionArb: fc.Arbitrary<Condition> = fc.letrec<{ c: Condition }>((tie) => ({
    c: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leafArb,
      fc.record({ all: fc.array(tie('c'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ any: fc.array(tie('c'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ not: tie('c') }),
    ),
  })).c;

  const scopeArb: fc.Arbitrary<Scope> = fc.oneof(
    fc.record({ type: fc.constant('device' as const), device: fc.constantFrom('d1', 'pump:17') }),
    fc.record({
      type: fc.constant('devices' as const),
      devices: fc.uniqueArray(fc.constantFrom('d1', 'd2', 'd3'), { minLength: 1 }),
    }),
    fc.record({ type: fc.constant('group' as const), group: fc.constantFrom('cold-room', 'g') }),
    fc.record({
      type: fc.constant('tags' as const),
      all: fc.uniqueArray(fc.constantFrom('a', 'b'), { minLength: 1 }),
    }),
    fc.record({ type: fc.constant('tenant' as const) }),
  );

  const severityArb: fc.Arbitrary<SeveritySpec> = fc.oneof(
    fc.constantFrom(...SEVERITY_NAMES),
    fc.record(
      {
        default: fc.constantFrom(...SEVERITY_NAMES),
        bands: fc.array(
          fc.record({ when: conditionArb, severity: fc.constantFrom(...SEVERITY_NAMES) }),
          { maxLength: 3 },
        ),
        escalate: fc.array(
          fc.record({ after: duration, severity: fc.constantFrom(...SEVERITY_NAMES) }),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: ['default'] },
    ),
  );

  const timeArb = fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
    .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

  const ruleArb: fc.Arbitrary<RuleDefinition> = fc.record(
    {
      name: fc.string({ minLength: 1, maxLength: 30 }),
      description: fc.string({ maxLength: 30 }),
      enabled: fc.boolean(),
      scope: scopeArb,
      condition: conditionArb,
      clear: conditionArb,
      for: duration,
      count: fc.integer({ min: 1, max: 10 }),
      autoResolveAfter: duration,
      severity: severityArb,
      schedule: fc.record(
        {
          timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'),
          periods: fc.array(
            fc.record({
              days: fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1 }),
              from: timeArb,
              to: timeArb,
            }),
            { minLength: 1, maxLength: 3 },
          ),
          excludeDates: fc.array(
            fc
              .date({
                min: new Date('2020-01-01'),
                max: new Date('2035-12-31'),
                noInvalidDate: true,
              })
              .map((d) => d.toISOString().slice(0, 10)),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: ['timezone', 'periods'] },
      ),
      aggregate: fc
        .record({
          n: fc.integer({ min: 1, max: 50 }),
          clear: fc.integer({ min: 0, max: 50 }),
          window: duration,
        })
        .map(({ n, clear, window }) => ({ minDevices: n, clearBelow: Math.min(n, clear), window })),
      flapping: fc.record({ maxTransitions: fc.integer({ min: 1, max: 20 }), window: duration }),
      inhibits: fc.record({
        rules: fc.uniqueArray(fc.constantFrom('r1', 'r2', 'r3'), { minLength: 1 }),
        match: fc.constantFrom('same-device' as const, 'behind' as const, 'all' as const),
      }),
      labels: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.string({ maxLength: 10 }),
        {
          maxKeys: 3,
        },
      ),
    },
    { requiredKeys: ['name', 'scope', 'condition', 'severity'] },
  ) as fc.Arbitrary<RuleDefinition>;

  return { leafArb, conditionArb, ruleArb };
}

export const { leafArb, conditionArb, ruleArb } = ruleArbitraries(numberArb, durationArb);
