import type { Pool } from 'pg';
import { inTransaction } from '../sql.ts';
import { type AppendedRecord, appendPreparedInTransaction } from './append.ts';
import { type PreparedEntry, type PrepareOptions, prepareEntry } from './prepare.ts';
import type { AuditEntry } from './record.ts';

/** What the writer counts (read by registerAuditMetrics). */
export class AuditWriterStats {
  /** Records committed. */
  written = 0;
  /** Transactions that committed records. */
  batches = 0;
  /** Attempts repeated after a transient database error. */
  retries = 0;
  /** Records whose write failed for good (after retries) or that were refused as malformed. */
  failures = 0;
}

export interface AuditWriterOptions {
  /** Clock for records without `at`; default Date.now. */
  now?: () => number;
  /** Records written per transaction at most; default 500. */
  maxBatch?: number;
  /**
   * Waits before each retry of a transient failure (connection lost, timeout, lock, serialization);
   * default [50, 250, 1000, 2000]: a database unavailable for about 3 s loses nothing.
   */
  retryDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  /** Called for each retried failure (for logs). */
  onRetry?: (err: unknown, attempt: number) => void;
}

/** A record could not be written (after retries). `entry` is what was lost: log it. */
export class AuditWriteError extends Error {
  override readonly name = 'AuditWriteError';
  constructor(
    readonly entry: AuditEntry,
    options: { cause: unknown },
  ) {
    super(
      `audit record '${entry.action}' of tenant '${entry.tenantId}' not written: ${messageOf(options.cause)}`,
      options,
    );
  }
}

interface Pending {
  readonly entry: AuditEntry;
  readonly prepared: PreparedEntry;
  resolve(record: AppendedRecord): void;
  reject(err: unknown): void;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Appends audit records. Records of one tenant are queued and written in batches: while a
 * transaction for a tenant is in flight, new records wait and go together in the next one, so a
 * burst costs a few transactions rather than one lock round per record. Each append resolves when
 * its record is committed, or rejects with AuditWriteError after the retries.
 */
export class AuditLog {
  readonly stats = new AuditWriterStats();
  private readonly queues = new Map<string, Pending[]>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly now: () => number;
  private readonly maxBatch: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly pool: Pool,
    private readonly options: AuditWriterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.retryDelaysMs = options.retryDelaysMs ?? [50, 250, 1000, 2000];
    this.sleep = options.sleep ?? sleepFor;
  }

  /** Appends one record; resolves with its place in the chain once committed. */
  append(entry: AuditEntry, prepareOptions?: PrepareOptions): Promise<AppendedRecord> {
    let prepared: PreparedEntry;
    try {
      prepared = prepareEntry(entry, this.now(), prepareOptions);
    } catch (err) {
      this.stats.failures++;
      return Promise.reject(err);
    }
    return new Promise<AppendedRecord>((resolve, reject) => {
      const queue = this.queues.get(prepared.tenantId);
      const pending: Pending = { entry, prepared, resolve, reject };
      if (queue === undefined) this.queues.set(prepared.tenantId, [pending]);
      else queue.push(pending);
      if (!this.inFlight.has(prepared.tenantId)) this.drain(prepared.tenantId);
    });
  }

  /** Resolves when every record appended so far is settled. */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
  }

  private drain(tenantId: string): void {
    const run = (async () => {
      for (;;) {
        const queue = this.queues.get(tenantId);
        if (queue === undefined || queue.length === 0) break;
        const batch = queue.splice(0, this.maxBatch);
        await this.writeBatch(batch);
      }
      this.queues.delete(tenantId);
    })().finally(() => {
      this.inFlight.delete(tenantId);
      // Records queued between the last check and now start a new round.
      if ((this.queues.get(tenantId)?.length ?? 0) > 0) this.drain(tenantId);
    });
    this.inFlight.set(tenantId, run);
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      const appended = await this.withRetries(() =>
        inTransaction(this.pool, (client) =>
          appendPreparedInTransaction(
            client,
            batch.map((p) => p.prepared),
          ),
        ),
      );
      this.stats.batches++;
      this.stats.written += batch.length;
      for (const [i, p] of batch.entries()) p.resolve(appended[i]!);
    } catch (err) {
      if (batch.length > 1 && !isTransient(err)) {
        // One bad record must not sink the others: write them one by one.
        for (const p of batch) await this.writeBatch([p]);
        return;
      }
      this.stats.failures += batch.length;
      for (const p of batch) p.reject(new AuditWriteError(p.entry, { cause: err }));
    }
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        const delay = this.retryDelaysMs[i];
        if (delay === undefined || !isTransient(err)) throw err;
        this.stats.retries++;
        this.options.onRetry?.(err, i + 1);
        await this.sleep(delay);
      }
    }
  }
}

/**
 * Whether retrying may succeed: connection problems, timeouts, lock and serialization failures,
 * server shutdown. Errors about the data (SQLSTATE classes 22 data, 23 integrity, 42 syntax or
 * undefined object, 2F/P0 routine errors) are final.
 */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(22|23|42|2F|P0)/.test(code)) return false;
  return !(err instanceof TypeError || err instanceof RangeError);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
