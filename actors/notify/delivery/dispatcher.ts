import type { Pool, PoolClient } from 'pg';
import {
  type AttemptRecord,
  type ClaimedDelivery,
  claimDue,
  type DeliveredItem as DeliveredRow,
  type FailedDeliveryRow,
  housekeep,
  markDelivered,
  markFailed,
  markRetry,
  releaseClaims,
} from '../../../db/notify/deliveries.ts';
import { openJson, type SecretSealer } from '../../../db/notify/secrets.ts';
import { type Logger, silentLogger } from '../../../runtime/logger.ts';
import type { Rate } from '../channels/channel.ts';
import { type DeliveryOutcome, errorMessage, thrownFailure } from '../channels/outcome.ts';
import { type ChannelSet, channelModule } from '../channels/registry.ts';
import { NotifyMetrics } from '../metrics.ts';
import type { RenderedMessage } from '../types.ts';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
import { type BucketRequest, TokenBuckets } from './rate-limiter.ts';

/**
 * The sending side of the outbox. Any number of dispatchers (one per node) share the table:
 *
 * 1. housekeeping (every few seconds): reclaim rows whose lease expired (their node died
 *    mid-send), end rows past their deadline or attempts (failed, onFailed hook) and rows
 *    cancelled while in flight;
 * 2. claim due rows in runs per recipient (db/notify/deliveries.ts claimDue: SKIP LOCKED, head
 *    of line per recipient), up to `concurrency` runs in flight;
 * 3. send each run's rows one after another through the channel, each attempt recorded:
 *    delivered; retryable -> pending again after backoff with full jitter, at least the
 *    provider's Retry-After, until max attempts or max age -> failed; permanent -> failed.
 *    After a retry is scheduled the rest of the run is released: a retrying row holds back its
 *    recipient's later rows, so they arrive in order.
 * 4. rate limits (per channel, per tenant, per provider target such as a PagerDuty routing key)
 *    postpone a send instead of failing it: the row goes back to pending until a token is due.
 *
 * Times in the table come from the injected clock (`now`), so tests drive retries and leases
 * without waiting. Send timeouts are real time.
 */

export interface FailedDelivery extends FailedDeliveryRow {
  /** Why it failed for good. */
  readonly reason: string;
}

/**
 * Called inside the transaction that marks the delivery failed: write the alert's event with
 * `client` and it commits together with the failure. Use only `client` in the hook: on the
 * embedded PGlite every connection shares one session, so a query on another connection would
 * wait for this transaction forever. A hook that throws is rolled back alone (counted and
 * logged); the failure stays recorded.
 */
export type OnFailedHook = (delivery: FailedDelivery, client: PoolClient) => void | Promise<void>;

export interface RateLimitOptions {
  /** Every channel of one tenant together. */
  readonly perTenant?: Rate;
  /** One channel, all tenants. */
  readonly perChannel?: Readonly<Partial<Record<string, Rate>>>;
  /** Limits a provider sets per target (PagerDuty routing key); default true. */
  readonly perTarget?: boolean;
}

export interface DispatcherOptions {
  readonly pool: Pool;
  readonly channels: ChannelSet;
  readonly sealer: SecretSealer;
  /** Recorded on claims and attempts. */
  readonly nodeId: string;
  readonly now?: () => number;
  /** In [0, 1); for the backoff jitter. */
  readonly random?: () => number;
  readonly onFailed?: OnFailedHook;
  readonly logger?: Logger;
  readonly metrics?: NotifyMetrics;
  readonly backoff?: Partial<BackoffOptions>;
  readonly rateLimits?: RateLimitOptions;
  /** How long a claim holds before another node may take the row over. Default 60 s. */
  readonly leaseMs?: number;
  /** Longest single send, whatever the channel's own timeout. Default 30 s. */
  readonly sendTimeoutMs?: number;
  /** Rows per claim. Default 500. */
  readonly claimLimit?: number;
  /** Consecutive rows of one recipient per claim. Default 100. */
  readonly runLength?: number;
  /** Recipients sent to at once. Default 32. */
  readonly concurrency?: number;
  /** Look for due rows at least this often. Default 1 s. */
  readonly pollIntervalMs?: number;
  readonly housekeepingIntervalMs?: number;
}

export interface DispatchSummary {
  readonly claimed: number;
  readonly delivered: number;
  readonly retried: number;
  readonly failed: number;
  /** Claimed but given back unattempted (rate limit, or behind a retrying row). */
  readonly released: number;
  readonly reclaimed: number;
}

/** Successes recorded per statement. */
const DELIVERED_BATCH = 50;

interface DeliveredItem extends DeliveredRow {
  readonly channel: string;
}

interface Tally {
  claimed: number;
  delivered: number;
  retried: number;
  failed: number;
  released: number;
  reclaimed: number;
}

const emptyTally = (): Tally => ({
  claimed: 0,
  delivered: 0,
  retried: 0,
  failed: 0,
  released: 0,
  reclaimed: 0,
});

export class Dispatcher {
  private readonly pool: Pool;
  private readonly channels: ChannelSet;
  private readonly sealer: SecretSealer;
  private readonly nodeId: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onFailed: OnFailedHook | undefined;
  private readonly logger: Logger;
  readonly metrics: NotifyMetrics;
  private readonly backoff: BackoffOptions;
  private readonly limits: RateLimitOptions;
  private readonly buckets = new TokenBuckets();
  private readonly leaseMs: number;
  private readonly sendTimeoutMs: number;
  private readonly claimLimit: number;
  private readonly runLength: number;
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;
  private readonly housekeepingIntervalMs: number;

  private readonly runs = new Set<Promise<void>>();
  private running = false;
  private stopping = false;
  private ticking = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private nextHousekeeping = 0;
  private readonly stopController = new AbortController();

  constructor(options: DispatcherOptions) {
    this.pool = options.pool;
    this.channels = options.channels;
    this.sealer = options.sealer;
    this.nodeId = options.nodeId;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.onFailed = options.onFailed;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new NotifyMetrics();
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.limits = options.rateLimits ?? {};
    this.leaseMs = options.leaseMs ?? 60_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.claimLimit = options.claimLimit ?? 500;
    this.runLength = options.runLength ?? 100;
    this.concurrency = options.concurrency ?? 32;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.housekeepingIntervalMs = options.housekeepingIntervalMs ?? 5000;
    if (this.leaseMs <= this.sendTimeoutMs) {
      throw new RangeError(
        `leaseMs (${this.leaseMs}) must exceed sendTimeoutMs (${this.sendTimeoutMs})`,
      );
    }
  }

  /** Starts polling (and sending as soon as wake() is called). */
  start(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    this.schedule(0);
  }

  /** New rows were committed: look now rather than at the next poll. */
  wake(): void {
    if (!this.running || this.stopping) return;
    if (this.ticking) this.again = true;
    else this.schedule(0);
  }

  /**
   * Stops claiming, lets the sends in flight finish (or aborts them with `abortInFlight`: they
   * are recorded as retryable), gives the rest of each run back to pending, and returns once
   * everything is recorded.
   */
  async stop(options: { abortInFlight?: boolean } = {}): Promise<void> {
    this.stopping = true;
    if (options.abortInFlight === true) this.stopController.abort(new Error('dispatcher stopping'));
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    while (this.ticking || this.runs.size > 0) {
      await Promise.all([...this.runs]);
      if (this.ticking) await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * One full pass, awaited: housekeeping, one claim, every claimed run sent and recorded.
   * For tests and tools; a started dispatcher does the same continuously.
   */
  async runOnce(): Promise<DispatchSummary> {
    const tally = emptyTally();
    await this.housekeeping(tally);
    const runs = await this.claim(tally, this.claimLimit);
    await Promise.all(runs.map((run) => this.sendRun(run, tally)));
    return { ...tally };
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (!this.running || this.ticking) return;
    this.ticking = true;
    this.again = false;
    let full = false;
    try {
      const tally = emptyTally();
      if (this.now() >= this.nextHousekeeping) {
        this.nextHousekeeping = this.now() + this.housekeepingIntervalMs;
        await this.housekeeping(tally);
      }
      const free = this.concurrency - this.runs.size;
      if (free > 0) {
        const limit = Math.min(this.claimLimit, free * this.runLength);
        const runs = await this.claim(tally, limit);
        full = tally.claimed >= limit;
        for (const run of runs) {
          const p: Promise<void> = this.sendRun(run, tally).finally(() => {
            this.runs.delete(p);
            // Its recipient may have more rows, and a slot is free.
            this.wake();
          });
          this.runs.add(p);
        }
      }
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'notification dispatch pass failed');
    } finally {
      this.ticking = false;
    }
    if (!this.running) return;
    this.schedule(this.again || full ? 0 : this.pollIntervalMs);
  }

  private async housekeeping(tally: Tally): Promise<void> {
    const result = await housekeep(
      this.pool,
      this.now(),
      this.failedHook('max attempts or max age reached'),
      this.onHookError,
    );
    tally.reclaimed += result.reclaimed;
    tally.failed += result.failed.length;
    if (result.reclaimed > 0) {
      this.metrics.reclaimed.inc(result.reclaimed);
      this.logger.warn({ reclaimed: result.reclaimed }, 'reclaimed deliveries of a lost node');
    }
    for (const f of result.failed)
      this.metrics.finished.inc({ channel: f.channel, status: 'failed' });
    if (result.cancelled > 0)
      this.metrics.finished.inc({ channel: 'any', status: 'cancelled' }, result.cancelled);
  }

  private readonly onHookError = (delivery: FailedDeliveryRow, err: unknown): void => {
    this.metrics.hookErrors.inc();
    this.logger.error(
      { deliveryId: delivery.id, alertId: delivery.alertId, err: errorMessage(err) },
      'onFailed hook threw; the delivery stays failed',
    );
  };

  private failedHook(reason: string | undefined) {
    const hook = this.onFailed;
    if (hook === undefined) return undefined;
    return async (row: FailedDeliveryRow, client: PoolClient) => {
      await hook({ ...row, reason: reason ?? row.lastError ?? 'failed' }, client);
    };
  }

  /** Claims due rows and groups them into runs (one recipient each, in id order). */
  private async claim(tally: Tally, limit: number): Promise<ClaimedDelivery[][]> {
    if (limit <= 0) return [];
    const rows = await claimDue(this.pool, {
      now: this.now(),
      node: this.nodeId,
      leaseMs: this.leaseMs,
      limit,
      runLength: this.runLength,
    });
    tally.claimed += rows.length;
    const runs: ClaimedDelivery[][] = [];
    let current: ClaimedDelivery[] | undefined;
    for (const row of rows) {
      const head = current?.[0];
      if (
        head === undefined ||
        head.tenantId !== row.tenantId ||
        head.recipient !== row.recipient
      ) {
        current = [];
        runs.push(current);
      }
      current!.push(row);
    }
    return runs;
  }

  /**
   * Sends a run's rows one after another. Successes are recorded in batches (the provider has
   * answered, so order is already kept; a crash before the write only means a resend, which the
   * idempotency key covers). Anything else is recorded before the run goes on.
   */
  private async sendRun(run: readonly ClaimedDelivery[], tally: Tally): Promise<void> {
    const done: DeliveredItem[] = [];
    try {
      for (let i = 0; i < run.length; i++) {
        const row = run[i]!;
        const result = await this.sendOne(row, tally);
        if (typeof result === 'object') {
          done.push(result);
          if (done.length >= DELIVERED_BATCH) await this.flushDelivered(done.splice(0), tally);
        } else if (result === 'stop') {
          await this.flushDelivered(done.splice(0), tally);
          await this.release(run.slice(i + 1), this.now(), tally);
          return;
        }
      }
      await this.flushDelivered(done.splice(0), tally);
    } catch (err) {
      // The database failed while recording: what is unrecorded stays 'sending' until its
      // lease expires and is then reclaimed; this run stops, its order no longer vouched for.
      this.logger.warn(
        { err: errorMessage(err), rows: run.length },
        'recording notification attempts failed; the rows will be reclaimed',
      );
    }
  }

  private async flushDelivered(items: readonly DeliveredItem[], tally: Tally): Promise<void> {
    if (items.length === 0) return;
    const held = await markDelivered(this.pool, items, this.now());
    for (const item of items) {
      if (held.has(item.delivery.id)) {
        tally.delivered++;
        this.metrics.finished.inc({ channel: item.channel, status: 'delivered' });
      } else {
        this.metrics.staleCompletions.inc();
      }
    }
  }

  private async release(
    rows: readonly ClaimedDelivery[],
    notBefore: number,
    tally: Tally,
  ): Promise<void> {
    if (rows.length === 0) return;
    const released = await releaseClaims(this.pool, rows, notBefore);
    tally.released += released;
  }

  /**
   * Sends one claimed row. A success is returned for the batch; other outcomes are recorded
   * here. 'stop' ends the run (a retry holds back the recipient's later rows).
   */
  private async sendOne(
    row: ClaimedDelivery,
    tally: Tally,
  ): Promise<'continue' | 'stop' | DeliveredItem> {
    if (this.stopping || this.now() + this.sendTimeoutMs >= row.leaseUntil) {
      await this.release([row], this.now(), tally);
      return 'stop';
    }
    const channel = this.channels.get(row.channel);
    const module = channelModule(row.channel);
    if (channel === undefined || module === undefined) {
      await this.fail(
        row,
        tally,
        this.record(this.now(), 0, {
          kind: 'permanent',
          statusCode: null,
          code: 'not-configured',
          reason: `channel '${row.channel}' is not configured on node ${this.nodeId}`,
        }),
      );
      return 'continue';
    }
    let target: unknown;
    try {
      target = module.parseTarget(await openJson(this.sealer, row.targetSealed));
    } catch (err) {
      await this.fail(
        row,
        tally,
        this.record(this.now(), 0, {
          kind: 'permanent',
          statusCode: null,
          code: 'bad-target',
          reason: `target could not be opened or read: ${errorMessage(err)}`,
        }),
      );
      return 'continue';
    }
    const wait = this.buckets.take(this.bucketsFor(row, target, module), this.now());
    if (wait > 0) {
      await this.release([row], this.now() + wait, tally);
      return 'stop';
    }
    const message = row.payload as unknown as RenderedMessage;
    const startedAt = this.now();
    const t0 = performance.now();
    const signal = AbortSignal.any([
      this.stopController.signal,
      AbortSignal.timeout(this.sendTimeoutMs),
    ]);
    this.metrics.inFlight.inc();
    let outcome: DeliveryOutcome;
    try {
      outcome = await channel.send(message, target, {
        idempotencyKey: row.idempotencyKey,
        signal,
        deliveryId: row.id,
        attempt: row.attempt,
      });
    } catch (err) {
      outcome = thrownFailure(err, signal);
    } finally {
      this.metrics.inFlight.dec();
    }
    const durationMs = performance.now() - t0;
    this.metrics.attempts.inc({ channel: row.channel, result: outcome.kind });
    this.metrics.attemptSeconds.observe({ channel: row.channel }, durationMs / 1000);
    const record = this.record(startedAt, durationMs, outcome);

    if (outcome.kind === 'delivered') {
      return { delivery: row, record, providerId: outcome.providerId, channel: row.channel };
    }
    if (outcome.kind === 'permanent') {
      await this.fail(row, tally, record);
      return 'continue';
    }
    const now = this.now();
    if (row.attempt >= row.maxAttempts) {
      await this.fail(
        row,
        tally,
        record,
        `max attempts reached (${row.attempt}); last: ${outcome.error}`,
      );
      return 'continue';
    }
    const retryAt =
      now + backoffDelay(row.attempt, this.backoff, this.random, outcome.retryAfterMs);
    if (retryAt > row.deadline) {
      await this.fail(row, tally, record, `max age reached; last: ${outcome.error}`);
      return 'continue';
    }
    const status = await markRetry(this.pool, row, record, retryAt, now);
    if (status === undefined) this.metrics.staleCompletions.inc();
    else if (status === 'cancelled') this.metrics.finished.inc({ channel: row.channel, status });
    else tally.retried++;
    return 'stop';
  }

  private bucketsFor(
    row: ClaimedDelivery,
    target: unknown,
    module: NonNullable<ReturnType<typeof channelModule>>,
  ): BucketRequest[] {
    const out: BucketRequest[] = [];
    const channelRate = this.limits.perChannel?.[row.channel];
    if (channelRate !== undefined) out.push({ key: `channel:${row.channel}`, rate: channelRate });
    if (this.limits.perTenant !== undefined) {
      out.push({ key: `tenant:${row.tenantId}`, rate: this.limits.perTenant });
    }
    if (this.limits.perTarget !== false && module.targetRate !== undefined) {
      out.push({ key: module.targetRate.key(target), rate: module.targetRate.rate });
    }
    return out;
  }

  private record(startedAt: number, durationMs: number, outcome: DeliveryOutcome): AttemptRecord {
    switch (outcome.kind) {
      case 'delivered':
        return {
          startedAt,
          durationMs,
          status: 'delivered',
          responseCode: outcome.statusCode,
          errorCode: null,
          error: null,
        };
      case 'retryable':
        return {
          startedAt,
          durationMs,
          status: 'retryable',
          responseCode: outcome.statusCode,
          errorCode: outcome.code,
          error:
            outcome.retryAfterMs === undefined
              ? outcome.error
              : `${outcome.error} (retry after ${outcome.retryAfterMs} ms)`,
        };
      case 'permanent':
        return {
          startedAt,
          durationMs,
          status: 'permanent',
          responseCode: outcome.statusCode,
          errorCode: outcome.code,
          error: outcome.reason,
        };
    }
  }

  private async fail(
    row: ClaimedDelivery,
    tally: Tally,
    record: AttemptRecord,
    reason: string = record.error ?? 'failed',
  ): Promise<void> {
    const failed = await markFailed(
      this.pool,
      row,
      record,
      reason,
      this.now(),
      this.failedHook(reason),
      this.onHookError,
    );
    if (failed === undefined) {
      this.metrics.staleCompletions.inc();
      return;
    }
    tally.failed++;
    this.metrics.finished.inc({ channel: row.channel, status: 'failed' });
    this.logger.warn(
      { deliveryId: row.id, alertId: row.alertId, channel: row.channel, reason },
      'notification delivery failed',
    );
  }
}
