import type { Rate } from '../channels/channel.ts';

/**
 * Token buckets that say how long to wait rather than refusing: a send that finds its bucket
 * empty is postponed (its row goes back to pending until a token is due), so a burst queues
 * instead of failing.
 *
 * Stored as GCRA (one "theoretical arrival time" per key, an exact equivalent of a token
 * bucket of `count` tokens refilled over `intervalMs`). Keys whose bucket is full again are
 * dropped in a sweep, so memory holds only recently busy keys.
 *
 * The buckets are per process: with N nodes dispatching, a limit admits up to N times its rate
 * in total. Set per-node limits accordingly (docs/notifications.md).
 */

export interface BucketRequest {
  readonly key: string;
  readonly rate: Rate;
}

export class TokenBuckets {
  private readonly tat = new Map<string, number>();
  private sweepAt = 0;

  /**
   * Takes one token from every bucket if all have one (returns 0); otherwise takes none and
   * returns the ms until all would.
   */
  take(requests: readonly BucketRequest[], now: number): number {
    let wait = 0;
    for (const { key, rate } of requests) {
      const interval = rate.intervalMs / rate.count;
      const tolerance = (rate.count - 1) * interval;
      const tat = Math.max(this.tat.get(key) ?? now, now);
      wait = Math.max(wait, tat - now - tolerance);
    }
    if (wait > 0) return Math.ceil(wait);
    for (const { key, rate } of requests) {
      const tat = Math.max(this.tat.get(key) ?? now, now);
      this.tat.set(key, tat + rate.intervalMs / rate.count);
    }
    if (now >= this.sweepAt) this.sweep(now);
    return 0;
  }

  get size(): number {
    return this.tat.size;
  }

  private sweep(now: number): void {
    for (const [key, tat] of this.tat) if (tat <= now) this.tat.delete(key);
    this.sweepAt = now + 60_000;
  }
}

/** Parses '10/s', '120/min', '500/h' (count per unit; burst = count). */
export function parseRate(text: string): Rate {
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(ms|s|sec|m|min|h|hour)\s*$/.exec(text);
  if (match === null) throw new Error(`'${text}' is not a rate like 10/s, 120/min or 500/h`);
  const count = Number(match[1]);
  if (!(count >= 1)) throw new Error(`'${text}': the count must be at least 1`);
  const unit = match[2]!;
  const intervalMs =
    unit === 'ms'
      ? 1
      : unit === 's' || unit === 'sec'
        ? 1000
        : unit.startsWith('m')
          ? 60_000
          : 3_600_000;
  return { count, intervalMs };
}
