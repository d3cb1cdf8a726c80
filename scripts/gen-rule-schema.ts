/**
 * Writes actors/rules/rule.schema.json from actors/rules/format/schema.ts (the source of truth).
 * `npx tsx scripts/gen-rule-schema.ts`; test/rules/format-schema.test.ts fails when they differ.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ruleSchema } from '../actors/rules/format/schema.ts';

const target = fileURLToPath(new URL('../actors/rules/rule.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(ruleSchema, null, 2)}\n`);
process.stderr.write(`wrote ${target}\n`);
