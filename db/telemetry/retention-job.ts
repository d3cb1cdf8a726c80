import type { Pool } from 'pg';
import {
  applyTelemetryRetention,
  type EnsurePartitionsOptions,
  ensureTelemetryPartitions,
  type RetentionOptions,
  type RetentionResult,
} from '../partitions.ts';

export interface RetentionRun {
  /** When the run started (the job's clock). */
  readonly at: number;
  /** Partitions created ahead. */
  readonly created: readonly string[];
  /** Undefined when the retention step failed (see error). */
  readonly retention: RetentionResult | undefined;
  /** The first failure of the run, if any; the job then retries after `retryMs`. */
  readonly error: Error | undefined;
}

/** The timer functions the job uses; tests pass fakes. */
export interface JobTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TelemetryRetentionJobOptions {
  /** Between runs; default 24 h. */
  intervalMs?: number;
  /** After a failed run; default 10 min. */
  retryMs?: number;
  /** Passed to ensureTelemetryPartitions (monthsAhead, monthsBehind, lockTimeoutMs). */
  partitions?: Omit<EnsurePartitionsOptions, 'now' | 'log'>;
  /** Passed to applyTelemetryRetention (defaultRetentionDays, devicesPerStatement, ...). */
  retention?: Omit<RetentionOptions, 'now' | 'log'>;
  /** The clock handed to both steps as `now`; default Date.now. */
  now?: () => number;
  timers?: JobTimers;
  /** After each run (e.g. `() => writer.invalidateRange()`). */
  onRun?: (run: RetentionRun) => void;
  log?: (message: string) => void;
  /** The two steps, replaceable for tests. */
  ensurePartitions?: typeof ensureTelemetryPartitions;
  applyRetention?: typeof applyTelemetryRetention;
}

const DEFAULT_TIMERS: JobTimers = {
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref(); // housekeeping must not keep a process alive
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * Telemetry housekeeping on a schedule: at start, then every `intervalMs` (daily), create the
 * partitions ahead (ensureTelemetryPartitions) and apply retention (applyTelemetryRetention).
 * Both are safe to run on several nodes at once, so every node may run the job. A failed run is
 * retried after `retryMs`; runs never overlap.
 */
export class TelemetryRetentionJob {
  runs = 0;
  failures = 0;
  lastRun: RetentionRun | undefined;

  private readonly intervalMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private readonly timers: JobTimers;
  private readonly log: (message: string) => void;
  private readonly ensure: typeof ensureTelemetryPartitions;
  private readonly retain: typeof applyTelemetryRetention;
  private timer: unknown;
  private running: Promise<RetentionRun> | undefined;
  private started = false;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly options: TelemetryRetentionJobOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 86_400_000;
    this.retryMs = options.retryMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? DEFAULT_TIMERS;
    this.log = options.log ?? (() => {});
    this.ensure = options.ensurePartitions ?? ensureTelemetryPartitions;
    this.retain = options.applyRetention ?? applyTelemetryRetention;
  }

  /** Runs once now and schedules the next runs; resolves with the first run. */
  start(): Promise<RetentionRun> {
    if (this.started) throw new Error('retention job already started');
    this.started = true;
    return this.runAndSchedule();
  }

  /** Runs now (or joins the run in progress). Does not change the schedule. */
  runNow(): Promise<RetentionRun> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Cancels the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  private async runAndSchedule(): Promise<RetentionRun> {
    const run = await this.runNow();
    if (!this.stopped) {
      this.timer = this.timers.setTimeout(
        () => {
          this.timer = undefined;
          void this.runAndSchedule();
        },
        run.error === undefined ? this.intervalMs : this.retryMs,
      );
    }
    return run;
  }

  private async run(): Promise<RetentionRun> {
    const at = this.now();
    let error: Error | undefined;
    let created: string[] = [];
    let retention: RetentionResult | undefined;
    try {
      created = (
        await this.ensure(this.pool, { ...this.options.partitions, now: at, log: this.log })
      ).created;
    } catch (err) {
      error = asError(err);
      this.log(`telemetry partitions: ${error.message}`);
    }
    try {
      retention = await this.retain(this.pool, {
        ...this.options.retention,
        now: at,
        log: this.log,
      });
    } catch (err) {
      const e = asError(err);
      error ??= e;
      this.log(`telemetry retention: ${e.message}`);
    }
    this.runs++;
    if (error !== undefined) this.failures++;
    const result: RetentionRun = { at, created, retention, error };
    this.lastRun = result;
    try {
      this.options.onRun?.(result);
    } catch (err) {
      this.log(`telemetry retention job: onRun threw: ${asError(err).message}`);
    }
    return result;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
