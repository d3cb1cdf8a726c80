import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { formatRuleErrors } from '../../actors/rules/format/paths.ts';
import { ruleSchema } from '../../actors/rules/format/schema.ts';
import { validateRule } from '../../actors/rules/format/validate.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('rule.schema.json', () => {
  it('is what schema.ts generates (run `npx tsx scripts/gen-rule-schema.ts` after a change)', () => {
    expect(JSON.parse(read('actors/rules/rule.schema.json'))).toEqual(ruleSchema);
  });

  it('compiles in a strict Ajv and in one configured like fastify', () => {
    const warnings: unknown[] = [];
    const logger = { log: () => {}, warn: (...a: unknown[]) => warnings.push(a), error: () => {} };
    new Ajv({ strict: true, strictRequired: false, allErrors: true, logger }).compile(ruleSchema);
    new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, logger }).compile(
      ruleSchema,
    );
    expect(warnings).toEqual([]);
  });

  it('by itself accepts a valid rule and rejects a malformed one', () => {
    const validate = new Ajv().compile(ruleSchema);
    const rule = {
      name: 'x',
      scope: { type: 'tenant' },
      condition: {
        any: [
          { metric: 'a', op: '>', value: 1 },
          { metric: 'b', op: '==', value: 'on' },
        ],
      },
      severity: 'info',
    };
    expect(validate(rule)).toBe(true);
    expect(validate({ ...rule, condition: { any: [{ metric: 'a', op: '>', value: 'x' }] } })).toBe(
      false,
    );
  });
});

describe('docs/rules.md', () => {
  // Every ```json block that is a whole rule (has "name" and "condition") must be valid.
  const blocks = [...read('docs/rules.md').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const rules = blocks
    .map((b) => JSON.parse(b) as Record<string, unknown>)
    .filter((b) => 'condition' in b && 'name' in b);

  it('has examples', () => {
    expect(rules.length).toBeGreaterThan(15);
  });

  it.each(rules.map((r) => [String(r.name), r]))('example "%s" is valid', (_name, rule) => {
    const result = validateRule(rule);
    expect(result.ok ? [] : formatRuleErrors(result.errors)).toEqual([]);
  });
});
