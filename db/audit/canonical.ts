import { toJsonTextLenient } from '../stores/json.ts';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, JSON.stringify's
 * escaping. The same value always yields the same text, and a value that went through PostgreSQL
 * JSONB (which reorders keys) and back yields the same text again, which is what lets a hash
 * computed at write time be recomputed at verification.
 *
 * Expects a JSON value (see toJsonValue): no undefined, functions, non-finite numbers or cycles.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined (absent) is written as null so that the text is always valid JSON.
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Any value as a plain JSON value, never failing: what JSON.stringify would keep (toJSON applied,
 * undefined members dropped, non-finite numbers as null), text cleaned of what PostgreSQL refuses
 * (U+0000, lone surrogates); a value JSON cannot express (BigInt, cycle) becomes its string form.
 * undefined stays undefined.
 */
export function toJsonValue(value: unknown): unknown {
  const text = toJsonTextLenient(value);
  return text === null ? undefined : JSON.parse(text);
}
