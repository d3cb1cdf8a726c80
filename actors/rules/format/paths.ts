/** Error locations as a person reads them: `condition.all[2].value`, `labels["team name"]`. */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export interface RuleError {
  /** Where in the rule, e.g. `condition.all[2].value`; '' is the rule itself. */
  readonly path: string;
  /** What is wrong, e.g. `expected a number`. */
  readonly message: string;
}

/** Appends a key or an array index to a path. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/**
 * A JSON pointer (`/condition/all/2/value`, as Ajv reports) as a readable path. The data is
 * walked alongside so that a numeric key of an object (`labels["1"]`) is not shown as an index.
 */
export function pointerToPath(pointer: string, data: unknown): string {
  if (pointer === '') return '';
  let path = '';
  let current: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current)) {
      path = childPath(path, Number(key));
      current = current[Number(key)];
    } else {
      path = childPath(path, key);
      current =
        current !== null && typeof current === 'object'
          ? (current as Record<string, unknown>)[key]
          : undefined;
    }
  }
  return path;
}

/** `path: message` lines; the rule itself shows as `rule`. */
export function formatRuleErrors(errors: readonly RuleError[]): string[] {
  return errors.map((e) => `${e.path === '' ? 'rule' : e.path}: ${e.message}`);
}

/** A value for a message: JSON when possible, never throws (bigints, cycles). */
export function show(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 60 ? `${json.slice(0, 57)}...` : json;
  } catch {
    // Not JSON-representable: fall through.
  }
  try {
    return String(value);
  } catch {
    return typeof value; // an object without a prototype has no toString
  }
}
