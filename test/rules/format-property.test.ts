import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRule } from '../../actors/rules/eval/compile.ts';
import { validateRule } from '../../actors/rules/format/validate.ts';
import type { RuleDefinition } from '../../actors/rules/model.ts';
import { ruleArb } from './format-arbitraries.ts';

const asRule = (d: RuleDefinition) => ({ ...d, id: 'r1', tenantId: 't1', version: 1 });

/** Every (container, key) of a JSON tree, the root as (undefined, undefined). */
function slots(
  value: unknown,
): { parent: Record<string, unknown> | unknown[]; key: string | number }[] {
  const out: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(value);
  return out;
}

type Mutation = { kind: 'replace' | 'delete' | 'add'; at: number; value: unknown; key: string };

function mutate(rule: RuleDefinition, mutations: readonly Mutation[]): unknown {
  const copy = structuredClone(rule) as unknown;
  for (const m of mutations) {
    const all = slots(copy);
    if (all.length === 0) break;
    const { parent, key } = all[m.at % all.length]!;
    if (m.kind === 'replace') (parent as Record<string | number, unknown>)[key] = m.value;
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key as string];
    } else {
      const target = (parent as Record<string | number, unknown>)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
        (target as Record<string, unknown>)[m.key] = m.value;
      }
    }
  }
  return copy;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
  at: fc.nat(),
  value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 })),
  key: fc.oneof(fc.constantFrom('all', 'any', 'not', 'op', 'value', 'for', 'type'), fc.string()),
});

describe('validateRule properties', () => {
  it('accepts generated valid rules, and compileRule accepts what it accepts', () => {
    fc.assert(
      fc.property(ruleArb, (rule) => {
        const result = validateRule(rule);
        if (!result.ok) throw new Error(JSON.stringify(result.errors));
        compileRule(asRule(rule));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on mutated rules: it returns errors, and whatever passes compiles', () => {
    fc.assert(
      fc.property(
        ruleArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (rule, mutations) => {
          const input = mutate(rule, mutations);
          const result = validateRule(input);
          if (result.ok) {
            compileRule(asRule(result.rule));
            return;
          }
          expect(result.errors.length).toBeGreaterThan(0);
          for (const e of result.errors) {
            expect(typeof e.path).toBe('string');
            expect(e.message.length).toBeGreaterThan(0);
            expect(e.message).not.toMatch(/^cannot be read/);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on anything at all', () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true }),
        (input) => {
          expect(typeof validateRule(input).ok).toBe('boolean');
        },
      ),
      { numRuns: 300 },
    );
  });
});
