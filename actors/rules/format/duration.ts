/**
 * Durations in rules are strings `<integer><unit>` ("500ms", "90s", "10m", "1h", "2d"): easy to
 * read in JSON and unambiguous, unlike bare numbers whose unit a reader has to guess.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** Longest duration a rule may name: ten years (keeps every sum of times a safe integer). */
export const MAX_DURATION_MS = 3650 * UNIT_MS.d;

export const DURATION_HINT = 'a duration like 500ms, 90s, 10m, 1h or 2d';

const FORM = /^(\d+)([a-zA-Z]*)$/;

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

/**
 * Why `input` is not a duration, or undefined when it is one. Never throws: the validator
 * calls it on whatever a client sent.
 */
export function durationProblem(input: unknown): string | undefined {
  if (typeof input !== 'string') return `expected ${DURATION_HINT}`;
  const text = input.trim();
  if (text.length === 0) return `expected ${DURATION_HINT}, got an empty string`;
  if (text !== input) return `expected ${DURATION_HINT} without spaces`;
  if (text.startsWith('-')) return `expected ${DURATION_HINT}; durations cannot be negative`;
  const match = FORM.exec(text);
  if (match === null) {
    return /^\d/.test(text) && /\d[a-zA-Z]+\d/.test(text)
      ? `expected one number and one unit (${DURATION_HINT}), got ${JSON.stringify(input)}`
      : `expected ${DURATION_HINT}, got ${JSON.stringify(input)}`;
  }
  const unit = match[2]!;
  if (unit === '') return `missing unit in ${JSON.stringify(input)}: use ms, s, m, h or d`;
  if (!Object.hasOwn(UNIT_MS, unit)) {
    return `unknown unit ${JSON.stringify(unit)} in ${JSON.stringify(input)}: use ms, s, m, h or d`;
  }
  const ms = Number(match[1]) * UNIT_MS[unit as Unit];
  if (!(ms <= MAX_DURATION_MS)) return `${JSON.stringify(input)} is longer than 3650d`;
  return undefined;
}

/** Milliseconds in `input` ("90s" -> 90000); throws DurationError with a readable message. */
export function parseDuration(input: string): number {
  const problem = durationProblem(input);
  if (problem !== undefined) throw new DurationError(problem);
  const match = FORM.exec(input)!;
  return Number(match[1]) * UNIT_MS[match[2] as Unit];
}

/** The shortest exact spelling of `ms` ("90s", "1h", "1500ms"), for messages and docs. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
