/**
 * Retry spacing: exponential backoff with full jitter (a uniformly random wait between 0 and
 * base * 2^(attempt-1), capped), so retries of many deliveries that failed together spread out
 * instead of returning in a wave. A provider's Retry-After is a floor.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's wait. */
  readonly baseMs: number;
  /** Largest ceiling. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 5 * 60 * 1000 };

/** Wait after failed attempt number `attempt` (1-based); `random` in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const jittered = Math.floor(random() * ceiling);
  return Math.max(jittered, retryAfterMs ?? 0);
}
