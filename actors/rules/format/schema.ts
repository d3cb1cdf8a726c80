// biome-ignore-all lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here, not a thenable
/**
 * The JSON Schema (draft-07, Ajv 8's default dialect) of a rule definition. rule.schema.json is
 * this object written out by scripts/gen-rule-schema.ts (a test keeps the two identical); the
 * gateway serves it, validateRule applies it and then the checks a schema cannot express.
 *
 * Alternatives (a condition is one of many shapes) are written as if/then/else chains keyed on
 * the discriminating field (`all`, `any`, `not`, `op`; a scope's `type`) rather than `oneOf`:
 * a validator then reports the errors of the one branch the value meant, instead of every
 * branch's complaint.
 */
import { SEVERITIES } from '../model.ts';

export const RULE_SCHEMA_ID = 'urn:gito:schema:rule-definition';

/** Condition nesting (all/any/not levels) beyond this is refused. */
export const MAX_CONDITION_DEPTH = 32;
/** Condition nodes (leaves and all/any/not) per condition tree. */
export const MAX_CONDITION_NODES = 1_000;
export const MAX_NAME_LENGTH = 128;

export const ORDERING_OPS = ['>', '>=', '<', '<='] as const;
export const EQUALITY_OPS = ['==', '!='] as const;
export const COMPARE_OPS = [...ORDERING_OPS, ...EQUALITY_OPS] as const;
export const RANGE_OPS = ['between', 'outside'] as const;
export const MEMBER_OPS = ['in', 'not_in'] as const;
export const LEAF_OPS = [
  ...COMPARE_OPS,
  ...RANGE_OPS,
  ...MEMBER_OPS,
  'changed',
  'delta',
  'rate',
  'missing',
] as const;
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const SCOPE_TYPES = ['device', 'devices', 'group', 'tags', 'tenant'] as const;
export const INHIBIT_MATCHES = ['same-device', 'behind', 'all'] as const;

export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$';
export const TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
export const DATE_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';
/** Metric and attribute names: what ingestion accepts as a key (no control characters). */
export const NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';

type JsonSchema = { readonly [key: string]: unknown };

const ref = (name: string): JsonSchema => ({ $ref: `#/definitions/${name}` });
const object = (
  required: readonly string[],
  properties: Record<string, JsonSchema>,
): JsonSchema => ({ type: 'object', required, additionalProperties: false, properties });
const text = (maxLength: number): JsonSchema => ({ type: 'string', minLength: 1, maxLength });
const severity: JsonSchema = { enum: SEVERITIES };

/** `if value.op is one of ops then schema`: one branch per op family inside LeafCondition. */
const whenOp = (ops: readonly string[], definition: string): JsonSchema => ({
  if: { type: 'object', required: ['op'], properties: { op: { enum: ops } } },
  then: ref(definition),
});

/** `if value.type === type then schema`: one branch per scope type. */
const whenScope = (type: string, definition: string): JsonSchema => ({
  if: { type: 'object', required: ['type'], properties: { type: { const: type } } },
  then: ref(definition),
});

const leaf = (op: readonly string[] | string, properties: Record<string, JsonSchema>) => {
  const required = ['metric', 'op', ...Object.keys(properties).filter((k) => !k.startsWith('?'))];
  const props: Record<string, JsonSchema> = {
    metric: ref('MetricName'),
    op: typeof op === 'string' ? { const: op } : { enum: op },
  };
  for (const [k, v] of Object.entries(properties)) props[k.replace(/^\?/, '')] = v;
  return object(required, props);
};

const definitions: Record<string, JsonSchema> = {
  Duration: {
    type: 'string',
    pattern: DURATION_PATTERN,
    description: '<integer><unit>, unit ms, s, m, h or d: "500ms", "90s", "10m", "1h", "2d"',
  },
  MetricName: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_NAME_LENGTH,
    pattern: NAME_PATTERN,
  },
  AttributeName: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_NAME_LENGTH,
    pattern: NAME_PATTERN,
  },
  // anyOf, not a type list: strict Ajv (and fastify's) refuses union types by default.
  Scalar: { anyOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }] },
  Severity: severity,
  AttributeRef: object(['attribute', 'default'], {
    attribute: ref('AttributeName'),
    default: ref('Scalar'),
  }),
  NumericAttributeRef: object(['attribute', 'default'], {
    attribute: ref('AttributeName'),
    default: { type: 'number' },
  }),
  Operand: {
    description: 'A number, string or boolean, or {"attribute": name, "default": value}',
    if: { type: 'object' },
    then: ref('AttributeRef'),
    else: ref('Scalar'),
  },
  NumericOperand: {
    description: 'A number, or {"attribute": name, "default": number}',
    if: { type: 'object' },
    then: ref('NumericAttributeRef'),
    else: { type: 'number' },
  },
  CompareOp: { enum: COMPARE_OPS },
  Condition: {
    description:
      'An object with exactly one of: all (array), any (array), not (condition), or op (a comparison)',
    if: { type: 'object', required: ['all'] },
    then: ref('AllCondition'),
    else: {
      if: { type: 'object', required: ['any'] },
      then: ref('AnyCondition'),
      else: {
        if: { type: 'object', required: ['not'] },
        then: ref('NotCondition'),
        else: ref('LeafCondition'),
      },
    },
  },
  AllCondition: object(['all'], {
    all: { type: 'array', minItems: 1, items: ref('Condition') },
  }),
  AnyCondition: object(['any'], {
    any: { type: 'array', minItems: 1, items: ref('Condition') },
  }),
  NotCondition: object(['not'], { not: ref('Condition') }),
  LeafCondition: {
    type: 'object',
    required: ['op'],
    properties: { op: { enum: LEAF_OPS } },
    allOf: [
      whenOp(ORDERING_OPS, 'OrderingCondition'),
      whenOp(EQUALITY_OPS, 'EqualityCondition'),
      whenOp(RANGE_OPS, 'RangeCondition'),
      whenOp(MEMBER_OPS, 'MemberCondition'),
      whenOp(['changed'], 'ChangedCondition'),
      whenOp(['delta'], 'DeltaCondition'),
      whenOp(['rate'], 'RateCondition'),
      whenOp(['missing'], 'MissingCondition'),
    ],
  },
  OrderingCondition: leaf(ORDERING_OPS, { value: ref('NumericOperand') }),
  EqualityCondition: leaf(EQUALITY_OPS, { value: ref('Operand') }),
  RangeCondition: leaf(RANGE_OPS, { low: ref('NumericOperand'), high: ref('NumericOperand') }),
  MemberCondition: leaf(MEMBER_OPS, {
    values: { type: 'array', minItems: 1, maxItems: 1000, items: ref('Scalar') },
  }),
  ChangedCondition: leaf('changed', {}),
  DeltaCondition: leaf('delta', {
    window: ref('Duration'),
    cmp: ref('CompareOp'),
    value: ref('NumericOperand'),
    '?abs': { type: 'boolean' },
  }),
  RateCondition: leaf('rate', {
    '?per': ref('Duration'),
    cmp: ref('CompareOp'),
    value: ref('NumericOperand'),
    '?abs': { type: 'boolean' },
  }),
  MissingCondition: object(['op', 'for'], {
    metric: ref('MetricName'),
    op: { const: 'missing' },
    for: ref('Duration'),
  }),
  Scope: {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: SCOPE_TYPES } },
    allOf: [
      whenScope('device', 'DeviceScope'),
      whenScope('devices', 'DevicesScope'),
      whenScope('group', 'GroupScope'),
      whenScope('tags', 'TagsScope'),
      whenScope('tenant', 'TenantScope'),
    ],
  },
  DeviceScope: object(['type', 'device'], { type: { const: 'device' }, device: text(256) }),
  DevicesScope: object(['type', 'devices'], {
    type: { const: 'devices' },
    devices: {
      type: 'array',
      minItems: 1,
      maxItems: 10_000,
      uniqueItems: true,
      items: text(256),
    },
  }),
  GroupScope: object(['type', 'group'], { type: { const: 'group' }, group: text(256) }),
  TagsScope: {
    ...object(['type'], {
      type: { const: 'tags' },
      all: { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: text(128) },
      any: { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: text(128) },
    }),
    description: 'Devices carrying every tag of `all` and at least one of `any`; give one or both',
  },
  TenantScope: object(['type'], { type: { const: 'tenant' } }),
  SeveritySpec: {
    description: 'A severity, or {default, bands?, escalate?}',
    if: { type: 'string' },
    then: ref('Severity'),
    else: ref('SeverityObject'),
  },
  SeverityObject: object(['default'], {
    default: ref('Severity'),
    bands: {
      type: 'array',
      maxItems: 20,
      items: object(['when', 'severity'], { when: ref('Condition'), severity: ref('Severity') }),
    },
    escalate: {
      type: 'array',
      maxItems: 10,
      items: object(['after', 'severity'], { after: ref('Duration'), severity: ref('Severity') }),
    },
  }),
  LocalTime: { type: 'string', pattern: TIME_PATTERN, description: 'HH:MM, 00:00 to 23:59' },
  LocalDate: { type: 'string', pattern: DATE_PATTERN, description: 'YYYY-MM-DD' },
  Schedule: object(['timezone', 'periods'], {
    timezone: { ...text(64), description: 'IANA time zone, e.g. Europe/Berlin' },
    periods: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: object(['days', 'from', 'to'], {
        days: {
          type: 'array',
          minItems: 1,
          maxItems: 7,
          uniqueItems: true,
          items: { enum: WEEKDAYS },
        },
        from: ref('LocalTime'),
        to: ref('LocalTime'),
      }),
    },
    excludeDates: { type: 'array', maxItems: 1000, items: ref('LocalDate') },
  }),
  Aggregate: object(['window'], {
    minDevices: { type: 'integer', minimum: 1 },
    minPercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
    window: ref('Duration'),
    clearBelow: { type: 'number', minimum: 0 },
  }),
  Flapping: object(['maxTransitions', 'window'], {
    maxTransitions: { type: 'integer', minimum: 1, maximum: 1000 },
    window: ref('Duration'),
  }),
  Inhibits: object(['rules', 'match'], {
    rules: { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: text(256) },
    match: { enum: INHIBIT_MATCHES },
  }),
};

export const ruleSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: RULE_SCHEMA_ID,
  title: 'Gito alert rule',
  description: 'An alert rule definition; docs/rules.md documents every field with examples.',
  ...object(['name', 'scope', 'condition', 'severity'], {
    name: text(200),
    description: { type: 'string', maxLength: 2000 },
    enabled: { type: 'boolean' },
    scope: ref('Scope'),
    condition: ref('Condition'),
    clear: ref('Condition'),
    for: ref('Duration'),
    count: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    autoResolveAfter: ref('Duration'),
    severity: ref('SeveritySpec'),
    schedule: ref('Schedule'),
    aggregate: ref('Aggregate'),
    flapping: ref('Flapping'),
    inhibits: ref('Inhibits'),
    escalationPolicy: text(200),
    labels: {
      type: 'object',
      maxProperties: 64,
      propertyNames: { minLength: 1, maxLength: 64 },
      additionalProperties: { type: 'string', maxLength: 256 },
    },
  }),
  definitions,
};
