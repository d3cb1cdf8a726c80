/**
 * validateRule: the one gate a rule passes before it is stored. The JSON Schema (schema.ts)
 * checks shapes; semantic.ts checks what a schema cannot; Ajv's errors are rewritten to
 * `path: message` form (`condition.all[2].value: expected a number`), with the noise of
 * if/then/else dispatching and anyOf alternatives removed.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { RuleDefinition } from '../model.ts';
import { DURATION_HINT, durationProblem } from './duration.ts';
import { childPath, pointerToPath, type RuleError, show } from './paths.ts';
import {
  DATE_PATTERN,
  DURATION_PATTERN,
  NAME_PATTERN,
  ruleSchema,
  TIME_PATTERN,
} from './schema.ts';
import { semanticErrors } from './semantic.ts';

export type { RuleError } from './paths.ts';

export type RuleValidation =
  | { readonly ok: true; readonly rule: RuleDefinition }
  | { readonly ok: false; readonly errors: readonly RuleError[] };

/** At most this many errors are returned (the first ones found). */
export const MAX_ERRORS = 50;
/** JSON nesting accepted before anything else is looked at (a condition tree of 32 fits). */
const MAX_JSON_DEPTH = 100;
const MAX_JSON_NODES = 200_000;

let compiled: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  // strictTypes/strictTuples: a schema mistake fails here (and in tests), not in production.
  compiled ??= new Ajv({
    allErrors: true,
    verbose: true,
    strictTypes: true,
    strictTuples: true,
  }).compile(ruleSchema);
  return compiled;
}

/**
 * Checks an untrusted rule definition (a parsed request body). Never throws: every problem,
 * including an input that is not JSON-like, is reported as an error.
 */
export function validateRule(input: unknown): RuleValidation {
  try {
    const tooBig = sizeProblem(input);
    if (tooBig !== undefined) return { ok: false, errors: [tooBig] };
    const validate = schemaValidator();
    const schemaOk = validate(input);
    const semantic = semanticErrors(input);
    if (schemaOk && semantic.length === 0) return { ok: true, rule: input as RuleDefinition };
    // A semantic error says more than the schema's complaint about the same spot (a duration's
    // "unknown unit" beats "does not match the pattern").
    const semanticPaths = new Set(semantic.map((e) => e.path));
    const fromSchema = readableErrors(validate.errors ?? [], input).filter(
      (e) => !semanticPaths.has(e.path),
    );
    return { ok: false, errors: dedupe([...fromSchema, ...semantic]).slice(0, MAX_ERRORS) };
  } catch (err) {
    // Only exotic inputs (a getter that throws, a Proxy) get here; still an answer, not a crash.
    return { ok: false, errors: [{ path: '', message: `cannot be read: ${String(err)}` }] };
  }
}

/** Refuses inputs too deep or too large to walk (and cyclic objects, which are infinitely deep). */
function sizeProblem(input: unknown): RuleError | undefined {
  const stack: { value: unknown; depth: number; path: () => string }[] = [
    { value: input, depth: 0, path: () => '' },
  ];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (++nodes > MAX_JSON_NODES)
      return { path: '', message: `more than ${MAX_JSON_NODES} values` };
    if (depth >= MAX_JSON_DEPTH) {
      return { path: path(), message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        stack.push({ value: value[i], depth: depth + 1, path: () => childPath(path(), i) });
      }
    } else {
      for (const key of Object.keys(value)) {
        const v: unknown = (value as Record<string, unknown>)[key];
        stack.push({ value: v, depth: depth + 1, path: () => childPath(path(), key) });
      }
    }
  }
  return undefined;
}

function dedupe(errors: readonly RuleError[]): RuleError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\n${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const ARTICLE: Record<string, string> = {
  number: 'a number',
  integer: 'an integer',
  string: 'a string',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

const CONDITION_HINT =
  'expected a condition: an object with `all`, `any`, `not`, or `metric` and `op`';

/** Ajv errors as `path: message`, keeping only those of the branch the value meant. */
export function readableErrors(errors: readonly ErrorObject[], data: unknown): RuleError[] {
  const out: RuleError[] = [];
  for (const e of errors) {
    // `if` failures only say "did not match then/else": the branch's own errors follow them.
    if (e.keyword === 'if') continue;
    // The alternatives of an anyOf (Scalar) each complain; the anyOf error says it once.
    if (/\/anyOf\/\d+\//.test(e.schemaPath)) continue;
    // Each bad property name gets its own propertyNames error; skip the inner duplicates.
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') continue;
    const path = pointerToPath(e.instancePath, data);
    out.push(readable(e, path));
  }
  return out;
}

function readable(e: ErrorObject, path: string): RuleError {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const missing = String(p.missingProperty);
      if (missing === 'op') return { path, message: CONDITION_HINT };
      return { path: childPath(path, missing), message: 'is required' };
    }
    case 'additionalProperties': {
      const allowed = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      return {
        path: childPath(path, String(p.additionalProperty)),
        message: `unknown field (expected ${allowed.map((k) => `\`${k}\``).join(', ')})`,
      };
    }
    case 'type':
      if (path === 'severity') {
        return {
          path,
          message:
            'expected a severity (critical, major, minor, warning, info) or an object with `default`',
        };
      }
      // A string with a format (duration, time, date) says which format rather than "a string".
      if (p.type === 'string' && typeof pattern(e) === 'string') {
        return { path, message: patternMessage(pattern(e)!, e.data) };
      }
      return { path, message: `expected ${ARTICLE[String(p.type)] ?? String(p.type)}` };
    case 'anyOf':
      return { path, message: 'expected a number, a string or a boolean' };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((v) => show(v)).join(', ');
      return { path, message: `expected one of ${allowed}` };
    }
    case 'const':
      return { path, message: `expected ${show(p.allowedValue)}` };
    case 'minItems':
      return {
        path,
        message: p.limit === 1 ? 'must not be empty' : `expected at least ${p.limit} items`,
      };
    case 'maxItems':
      return { path, message: `expected at most ${p.limit} items` };
    case 'minLength':
      return {
        path,
        message: p.limit === 1 ? 'must not be empty' : `expected at least ${p.limit} characters`,
      };
    case 'maxLength':
      return { path, message: `expected at most ${p.limit} characters` };
    case 'minimum':
      return { path, message: `expected a number >= ${p.limit}` };
    case 'maximum':
      return { path, message: `expected a number <= ${p.limit}` };
    case 'exclusiveMinimum':
      return { path, message: `expected a number > ${p.limit}` };
    case 'maxProperties':
      return { path, message: `expected at most ${p.limit} fields` };
    case 'uniqueItems': {
      const items = Array.isArray(e.data) ? e.data : [];
      return { path, message: `${show(items[Number(p.i)])} appears more than once` };
    }
    case 'propertyNames':
      return { path, message: `invalid name ${show(p.propertyName)}: expected 1 to 64 characters` };
    case 'pattern':
      return { path, message: patternMessage(String(p.pattern), e.data) };
    default:
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}

function pattern(e: ErrorObject): string | undefined {
  const schema = e.parentSchema as { pattern?: unknown } | undefined;
  return typeof schema?.pattern === 'string' ? schema.pattern : undefined;
}

function patternMessage(pattern: string, data: unknown): string {
  switch (pattern) {
    case DURATION_PATTERN:
      return durationProblem(data) ?? `expected ${DURATION_HINT}`;
    case TIME_PATTERN:
      return `expected a time HH:MM from 00:00 to 23:59, got ${show(data)}`;
    case DATE_PATTERN:
      return `expected a date YYYY-MM-DD, got ${show(data)}`;
    case NAME_PATTERN:
      return typeof data === 'string' ? 'must not contain control characters' : 'expected a string';
    default:
      return `does not match ${pattern}`;
  }
}
