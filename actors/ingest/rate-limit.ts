/**
 * Per-key token buckets (one per device) with bounded memory.
 *
 * Each bucket holds up to `burst` tokens and refills at `ratePerSecond`; a message takes one
 * token or is throttled. It is stored as GCRA (the generic cell rate algorithm, an exact
 * equivalent of a token bucket): one number per key, the "theoretical arrival time" `tat`, the
 * time at which the bucket will be full again. `allow` is O(1): a Map lookup and a set.
 *
 * Memory. Buckets live in two generations of Maps. Every `fullAfterMs = burst / rate` the
 * older generation is dropped whole and the current one becomes the older; a key found in the
 * older generation moves to the current one. A key dropped was untouched for at least
 * `fullAfterMs`, so its bucket had refilled to `burst`: exactly the state of a key never seen.
 * Eviction therefore never changes a decision, and memory holds only the keys seen in the last
 * two periods (seconds at typical settings), not every device that ever sent.
 *
 * Hard cap: if more than `maxKeys` distinct keys arrive within one period, the generations
 * turn early; keys dropped then restart with a full bucket (a flood of distinct keys cannot
 * exhaust memory; the price is some leniency for keys it pushed out).
 */
export interface RateLimitOptions {
  /** Sustained rate per key, messages per second. */
  readonly ratePerSecond: number;
  /** Bucket size: messages a quiet key may send at once. At least 1. */
  readonly burst: number;
  /** Most keys in one generation before turning early. Default 1,000,000. */
  readonly maxKeys?: number;
}

/** 10 messages/s sustained per device, bursts of 20. */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { ratePerSecond: 10, burst: 20 };

export class KeyedRateLimiter {
  /** ms between tokens. */
  private readonly interval: number;
  /** How far `tat` may run ahead of now and still allow: (burst - 1) intervals. */
  private readonly tolerance: number;
  /** Time for an empty bucket to refill: a generation's lifetime. */
  readonly fullAfterMs: number;
  private readonly maxKeys: number;
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private turnedAt = Number.NEGATIVE_INFINITY;
  /** Generations dropped because `maxKeys` was reached. */
  earlyTurns = 0;

  constructor(options: RateLimitOptions) {
    const { ratePerSecond, burst } = options;
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`burst must be at least 1, got ${burst}`);
    }
    this.interval = 1000 / ratePerSecond;
    this.tolerance = (burst - 1) * this.interval;
    this.fullAfterMs = burst * this.interval;
    this.maxKeys = Math.max(1, options.maxKeys ?? 1_000_000);
  }

  /** Takes a token for `key` at `now` (ms); false if its bucket is empty (throttle). */
  allow(key: string, now: number): boolean {
    if (now - this.turnedAt >= this.fullAfterMs) this.turn(now);
    let tat = this.current.get(key);
    if (tat === undefined) {
      tat = this.previous.get(key);
      if (tat !== undefined) {
        this.previous.delete(key);
        if (tat - now > this.tolerance) {
          this.current.set(key, tat); // throttled, but keep its state in the live generation
          return false;
        }
      } else if (this.current.size >= this.maxKeys) {
        this.earlyTurns++;
        this.previous = this.current;
        this.current = new Map();
        this.turnedAt = now;
      }
    } else if (tat - now > this.tolerance) {
      return false;
    }
    if (tat === undefined || tat < now) tat = now;
    this.current.set(key, tat + this.interval);
    return true;
  }

  /** Drops buckets that have refilled; call from a timer if `allow` may go quiet for long. */
  sweep(now: number): void {
    if (now - this.turnedAt >= this.fullAfterMs) this.turn(now);
  }

  /** Keys currently held (both generations). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private turn(now: number): void {
    if (now - this.turnedAt >= 2 * this.fullAfterMs) {
      // Nothing was touched in the last two periods' worth of time: both are full.
      this.previous = new Map();
      this.current = new Map();
    } else {
      this.previous = this.current;
      this.current = new Map();
    }
    this.turnedAt = now;
  }
}
