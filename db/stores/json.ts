import { inspect } from 'node:util';

/**
 * JSON text for a JSONB parameter: SQL NULL (null) for undefined. Passing text with `$n::jsonb`
 * rather than letting pg serialise avoids its quirks (a JS string would be sent unquoted).
 * Throws what JSON.stringify throws (BigInt, cycles).
 */
export function toJsonText(value: unknown): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : text;
}

/** Parses JSON text read as `col::text`; SQL NULL becomes undefined. */
export function fromJsonText(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/**
 * Like toJsonText, but never fails and always yields text JSONB accepts: strings (and keys) lose
 * U+0000 and lone surrogates (replaced by U+FFFD); a value JSON cannot express (BigInt, cycle,
 * throwing toJSON) is stored as a JSON string holding its util.inspect form.
 */
export function toJsonTextLenient(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value, sanitizingReplacer);
    if (text !== undefined) return text;
  } catch {
    // fall through to the string form
  }
  return JSON.stringify(stringForm(value));
}

/** U+0000, and surrogates that are not part of a pair. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what PostgreSQL refuses.
const UNSAFE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text safe for a PostgreSQL text column (no U+0000, well-formed UTF-16). */
export function sanitizeText(text: string): string {
  return text.replace(UNSAFE, '\uFFFD');
}

function stringForm(value: unknown): string {
  try {
    return sanitizeText(
      typeof value === 'string'
        ? value
        : inspect(value, { depth: 6, breakLength: Number.POSITIVE_INFINITY }),
    );
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function sanitizingReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'string') return sanitizeText(value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // Keys are not passed through the replacer's value path: rebuild objects whose keys need it.
    const entries = Object.keys(value);
    if (entries.some((k) => sanitizeText(k) !== k)) {
      const copy: Record<string, unknown> = {};
      for (const k of entries) copy[sanitizeText(k)] = (value as Record<string, unknown>)[k];
      return copy;
    }
  }
  return value;
}
