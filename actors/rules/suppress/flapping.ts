/**
 * Flap detection (FlappingSpec in ../model.ts; docs/schedules.md): an alert that opens and
 * clears more than `maxTransitions` times within `window` is flapping, and its notifications are
 * held until it settles.
 *
 * Hysteresis: flapping starts when a transition makes the count in the trailing window exceed
 * `maxTransitions`, and ends (settles) only once the count in the trailing window has fallen to
 * half the threshold, floor(maxTransitions / 2), or below. Settling as soon as the count is back
 * at the threshold would let an alert that keeps flapping at just that rate start and stop
 * flapping with nearly every transition, and each stop notifies: the very noise flap detection
 * exists to hold back. Half the threshold needs the rate to really drop; an alert that goes
 * quiet settles one window after its last transitions at the latest.
 *
 * A FlapTracker's state is plain JSON (toJSON / fromJSON; the rule actor persists it) and
 * bounded: only the newest maxTransitions + 1 transition times inside the window are kept, which
 * is all the two tests above read (exceeding looks at the (max+1)-th newest, settling at the
 * (half+1)-th). Time is always passed in; nothing reads the clock.
 */

import { durationProblem, parseDuration } from '../format/duration.ts';
import type { FlappingSpec } from '../model.ts';

/** What a FlapTracker saves: plain JSON. */
export interface FlapTrackerJSON {
  /** Times (ms since the epoch) of the newest transitions within the window, ascending. */
  readonly t: readonly number[];
  /** When the current flapping episode started; null while not flapping (as last recorded). */
  readonly since: number | null;
}

/** Largest maxTransitions (the rule schema's limit too): at most 1001 times are kept. */
const MAX_TRANSITIONS = 1000;

/** A spec whose maxTransitions or window cannot be used. */
export class InvalidFlappingSpecError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(`invalid flapping spec: ${errors.join('; ')}`);
    this.name = 'InvalidFlappingSpecError';
  }
}

/** Path-style errors of a FlappingSpec (`flapping.window: ...`), empty when it is valid. */
export function validateFlappingSpec(value: unknown, path = 'flapping'): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${path}: expected an object with maxTransitions and window`];
  }
  const { maxTransitions, window } = value as Record<string, unknown>;
  const errors: string[] = [];
  if (
    typeof maxTransitions !== 'number' ||
    !Number.isInteger(maxTransitions) ||
    maxTransitions < 1 ||
    maxTransitions > MAX_TRANSITIONS
  ) {
    errors.push(`${path}.maxTransitions: expected a whole number 1..${MAX_TRANSITIONS}`);
  }
  const problem = durationProblem(window);
  if (problem !== undefined) errors.push(`${path}.window: ${problem}`);
  else if (parseDuration(window as string) <= 0)
    errors.push(`${path}.window: must be longer than 0`);
  return errors;
}

/** Open/clear transitions of one alert (one rule and device) and whether it is flapping. */
export class FlapTracker {
  private readonly max: number;
  private readonly window: number;
  private times: number[];
  private flappingSince: number | null;

  /** Throws InvalidFlappingSpecError for a spec validateFlappingSpec rejects. */
  constructor(spec: FlappingSpec, saved?: FlapTrackerJSON) {
    const errors = validateFlappingSpec(spec);
    if (errors.length > 0) throw new InvalidFlappingSpecError(errors);
    this.max = spec.maxTransitions;
    this.window = parseDuration(spec.window);
    // Saved state may come from an older spec or be damaged: keep what is readable, in order,
    // and no more than this spec needs.
    const times = Array.isArray(saved?.t)
      ? saved.t.filter((t) => typeof t === 'number' && Number.isFinite(t)).sort((a, b) => a - b)
      : [];
    this.times = times.slice(Math.max(0, times.length - (this.max + 1)));
    const since = saved?.since;
    this.flappingSince = typeof since === 'number' && Number.isFinite(since) ? since : null;
  }

  static fromJSON(spec: FlappingSpec, saved: FlapTrackerJSON): FlapTracker {
    return new FlapTracker(spec, saved);
  }

  toJSON(): FlapTrackerJSON {
    return { t: [...this.times], since: this.flappingSince };
  }

  /**
   * Records an open or clear transition at `at`. Transitions come in time order; one earlier
   * than the newest recorded is taken as happening at the newest's time.
   */
  record(at: number): void {
    const newest = this.times.at(-1);
    const time = newest !== undefined && at < newest ? newest : at;
    // Settling is judged on the transitions before this one: did it get quiet enough?
    if (this.flappingSince !== null && this.countAt(time) <= this.settleLevel()) {
      this.flappingSince = null;
    }
    const kept = this.times.filter((t) => t > time - this.window);
    kept.push(time);
    this.times = kept.slice(Math.max(0, kept.length - (this.max + 1)));
    if (this.flappingSince === null && this.times.length > this.max) this.flappingSince = time;
  }

  /** Whether the alert is flapping at `now` (not before the last recorded transition). */
  isFlapping(now: number): boolean {
    return this.flappingSince !== null && this.countAt(now) > this.settleLevel();
  }

  /** When the current flapping episode started, if the alert is flapping at `now`. */
  flappingSinceAt(now: number): number | undefined {
    return this.isFlapping(now) ? (this.flappingSince ?? undefined) : undefined;
  }

  /**
   * The next instant after `now` at which isFlapping changes by itself (it settles, if no
   * transition comes first), so the caller can set one reminder; undefined when nothing will
   * change without a new transition.
   */
  nextChange(now: number): number | undefined {
    if (!this.isFlapping(now)) return undefined;
    // It settles when all but `level` of the transitions have left the window, i.e. when the
    // (level + 1)-th newest does. isFlapping(now) guarantees there are more than `level`.
    const settles = this.times[this.times.length - this.settleLevel() - 1]! + this.window;
    return settles > now ? settles : undefined;
  }

  private settleLevel(): number {
    return Math.floor(this.max / 2);
  }

  /** Transitions in the trailing window (now - window, now]. */
  private countAt(now: number): number {
    let n = 0;
    for (const t of this.times) if (t > now - this.window && t <= now) n++;
    return n;
  }
}
