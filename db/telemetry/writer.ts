import { finished } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { listTelemetryPartitions, telemetryLayout } from '../partitions.ts';
import { toJsonTextLenient } from '../stores/json.ts';
import { type EncodedRow, encodeBinary, encodeText } from './encode.ts';
import { TelemetryWriterStats } from './metrics.ts';

/** One telemetry message for the `telemetry` table. */
export interface TelemetryRow {
  /** devices.id: a safe integer, or the bigint as a decimal string. */
  readonly deviceId: number | string;
  /** ms since epoch (fractions are truncated). */
  readonly ts: number;
  /** Flattened metrics; stored as JSONB. */
  readonly metrics: Readonly<Record<string, number | string | boolean>>;
}

/**
 * Called once per accepted row: without an argument after the row's batch committed (or the row
 * turned out to be stored already), with an error when the row will not be stored. Acknowledge
 * the message to the broker only on success.
 */
export type CommitCallback = (err?: Error) => void;

export type TelemetryWriteMethod = 'auto' | 'copy' | 'insert';

export interface TelemetryWriterOptions {
  /** A batch is written as soon as this many rows wait; default 5000. */
  maxBatch?: number;
  /** ...or when the oldest waiting row has waited this long; default 20 ms. */
  maxDelayMs?: number;
  /** Batches written concurrently (each on its own pooled connection); default 2. */
  maxInFlight?: number;
  /**
   * Rows accepted and not yet settled (waiting plus in flight) beyond which add() refuses;
   * default maxBatch * (maxInFlight + 2). At least maxBatch.
   */
  maxBuffered?: number;
  /**
   * 'copy': COPY FROM STDIN, falling back to INSERT ... ON CONFLICT DO NOTHING for a batch with
   * duplicates; 'insert': always the latter; 'auto' (default): 'copy', except on embedded PGlite
   * whose socket server cannot do COPY (it loses protocol sync and wedges the session).
   */
  method?: TelemetryWriteMethod;
  /** COPY format; default 'binary' (measured faster, see db/README.md). */
  copyFormat?: 'binary' | 'text';
  /** Attempts after the first for a transient error (connection, shutdown, deadlock); default 8. */
  maxRetries?: number;
  /** Backoff before the first retry, doubling up to retryMaxMs; defaults 50 ms and 5 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * The partition list is re-read this often (partitions are created ahead by a daily job);
   * default 60 s. A batch with out-of-range rows re-reads it if it is older than
   * rangeRecheckMs (default 5 s) before refusing them.
   */
  rangeRefreshMs?: number;
  rangeRecheckMs?: number;
  /** After a duplicate, batches use INSERT ... ON CONFLICT for this long; default 2 s. */
  conflictModeMs?: number;
  log?: (message: string) => void;
}

/** The row's ts lies outside every telemetry partition (a device clock far off, usually). */
export class TelemetryOutOfRangeError extends Error {
  readonly reason = 'out-of-range';
  constructor(
    readonly ts: number,
    readonly covered: ReadonlyArray<{ from: number; to: number }>,
  ) {
    super(
      `telemetry ts ${describeTs(ts)} is outside the stored range (${
        covered.length === 0
          ? 'no telemetry partitions'
          : covered.map((c) => `${describeTs(c.from)} .. ${describeTs(c.to)}`).join(', ')
      })`,
    );
    this.name = 'TelemetryOutOfRangeError';
  }
}

/** The row itself is unusable (device id, ts or metrics of the wrong shape). */
export class TelemetryRowError extends Error {
  readonly reason = 'invalid';
  constructor(message: string) {
    super(message);
    this.name = 'TelemetryRowError';
  }
}

/** The row could not be written (after retries, or refused by the database). */
export class TelemetryWriteError extends Error {
  readonly reason = 'write-failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TelemetryWriteError';
  }
}

/** add() after close(). */
export class TelemetryWriterClosedError extends Error {
  readonly reason = 'closed';
  constructor() {
    super('telemetry writer is closed');
    this.name = 'TelemetryWriterClosedError';
  }
}

interface Entry extends EncodedRow {
  readonly cb: CommitCallback | undefined;
}

interface Ranges {
  /** Merged [from, to) intervals covered by partitions, sorted. */
  readonly intervals: ReadonlyArray<{ from: number; to: number }>;
  readonly loadedAt: number;
}

interface Backend {
  /** COPY is possible (not PGlite) and wanted. */
  copy: boolean;
}

/** Lowest timestamptz (4714-11-24 BC) and highest ms a JS Date holds. */
const MIN_TS = -210_866_803_200_000;
const MAX_TS = 8_640_000_000_000_000;
const INT64_MAX = 9_223_372_036_854_775_807n;
const INT64_MIN = -9_223_372_036_854_775_808n;

/**
 * The INSERT path (duplicates, retries, PGlite). Metrics travel as ONE JSON array parsed once by
 * the server and zipped with the id and time arrays by ROWS FROM: measured ~1.5x the rows/s of a
 * jsonb[] parameter (whose array literal escapes and re-parses every element), on PostgreSQL and
 * on PGlite alike.
 */
const INSERT_SQL = `INSERT INTO telemetry (device_id, ts, metrics)
SELECT u.d, timestamptz 'epoch' + u.t * interval '1 millisecond', u.m
  FROM ROWS FROM (unnest($1::bigint[]), unnest($2::bigint[]), jsonb_array_elements($3::jsonb))
    AS u(d, t, m)
ON CONFLICT (device_id, ts) DO NOTHING`;

/**
 * Batched, acknowledged writes of telemetry rows.
 *
 *   const writer = new TelemetryWriter(pool);
 *   if (!writer.add({ deviceId, ts, metrics }, (err) => err ? dropOrNack(err) : ack())) {
 *     await writer.whenWritable(); // stop reading until there is room, then add it again
 *   }
 *
 * - add() takes the row into a bounded buffer, or refuses it (returns false, and will never call
 *   its callback) when `maxBuffered` rows are pending: that is the backpressure signal; wait for
 *   whenWritable() and add the row again.
 * - A batch goes out when `maxBatch` rows wait or the oldest has waited `maxDelayMs`; at most
 *   `maxInFlight` batches are written at once, each as ONE autocommit statement (COPY, or
 *   INSERT ... SELECT FROM unnest(...) ... ON CONFLICT DO NOTHING), so a row's callback runs
 *   only after the statement that stored it committed.
 * - Rows outside the telemetry partitions, and malformed rows, are refused with their own error
 *   before the write, so they never fail a batch. A redelivered row (unique (device_id, ts))
 *   makes COPY fail; the batch is then written with ON CONFLICT DO NOTHING and the duplicates
 *   succeed (they are stored) and are counted.
 * - Transient errors (connection, server shutdown, deadlock, timeouts) are retried with backoff
 *   through the idempotent INSERT path (a COPY whose outcome is unknown may have committed);
 *   after `maxRetries`, the batch's callbacks get a TelemetryWriteError. A data error the
 *   checks did not foresee is narrowed down by bisecting the batch: only the bad rows fail.
 */
export class TelemetryWriter {
  readonly stats = new TelemetryWriterStats();

  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxInFlight: number;
  private readonly maxBuffered: number;
  private readonly lowWater: number;
  private readonly method: TelemetryWriteMethod;
  private readonly copyFormat: 'binary' | 'text';
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly rangeRefreshMs: number;
  private readonly rangeRecheckMs: number;
  private readonly conflictModeMs: number;
  private readonly log: (message: string) => void;

  private queue: Entry[] = [];
  private inFlightRows = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** The oldest waiting row has waited maxDelayMs. */
  private due = false;
  /** Rows ever queued, rows ever taken into a batch (FIFO), and flush()'s target. */
  private enqueued = 0;
  private taken = 0;
  private forceUpTo = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private spaceWaiters: Array<() => void> = [];

  private backend: Promise<Backend> | undefined;
  private ranges: Ranges | undefined;
  private rangesLoading: Promise<Ranges> | undefined;
  private conflictModeUntil = 0;

  constructor(
    private readonly pool: Pool,
    options: TelemetryWriterOptions = {},
  ) {
    this.maxBatch = positiveInt('maxBatch', options.maxBatch ?? 5000);
    this.maxDelayMs = Math.max(0, options.maxDelayMs ?? 20);
    this.maxInFlight = positiveInt('maxInFlight', options.maxInFlight ?? 2);
    this.maxBuffered = Math.max(
      this.maxBatch,
      positiveInt('maxBuffered', options.maxBuffered ?? this.maxBatch * (this.maxInFlight + 2)),
    );
    this.lowWater = Math.max(0, this.maxBuffered - this.maxBatch);
    this.method = options.method ?? 'auto';
    this.copyFormat = options.copyFormat ?? 'binary';
    this.maxRetries = Math.max(0, options.maxRetries ?? 8);
    this.retryBaseMs = Math.max(0, options.retryBaseMs ?? 50);
    this.retryMaxMs = Math.max(this.retryBaseMs, options.retryMaxMs ?? 5000);
    this.rangeRefreshMs = options.rangeRefreshMs ?? 60_000;
    this.rangeRecheckMs = options.rangeRecheckMs ?? 5000;
    this.conflictModeMs = options.conflictModeMs ?? 2000;
    this.log = options.log ?? (() => {});
  }

  /** Rows accepted and not yet settled (waiting plus in flight). */
  get buffered(): number {
    return this.queue.length + this.inFlightRows;
  }

  /** add() would take a row now. */
  get writable(): boolean {
    return !this.closed && this.buffered < this.maxBuffered;
  }

  /**
   * Takes a row; `onCommitted` runs once, after the row is stored (no argument) or when it will
   * not be (an error: TelemetryOutOfRangeError, TelemetryRowError, TelemetryWriteError,
   * TelemetryWriterClosedError). Returns false, without taking the row, when the buffer is full.
   */
  add(row: TelemetryRow, onCommitted?: CommitCallback): boolean {
    if (this.closed) {
      settleLater(onCommitted, new TelemetryWriterClosedError());
      return true;
    }
    if (this.buffered >= this.maxBuffered) return false;
    const entry = toEntry(row, onCommitted);
    if (entry instanceof Error) {
      this.stats.invalid++;
      settleLater(onCommitted, entry);
      return true;
    }
    this.queue.push(entry);
    this.enqueued++;
    if (this.queue.length >= this.maxBatch) this.pump();
    else if (this.timer === undefined && !this.due) this.armTimer();
    return true;
  }

  /**
   * Resolves when add() will take rows again: at once if there is room, else once the buffer has
   * drained to one batch below the limit (or the writer closed).
   */
  whenWritable(): Promise<void> {
    if (this.closed || this.buffered < this.maxBuffered) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Writes everything accepted so far; resolves when all of it is settled. */
  async flush(): Promise<void> {
    const target = this.enqueued;
    this.forceUpTo = Math.max(this.forceUpTo, target);
    this.pump();
    while (this.taken < target && this.inFlight.size > 0) {
      await Promise.race(this.inFlight);
      this.pump();
    }
    await Promise.all([...this.inFlight]);
  }

  /**
   * Refuses new rows (their callbacks get TelemetryWriterClosedError), then drains: resolves when
   * every accepted row is settled. With the database down this includes the retries (about
   * 11 s with the defaults) before the last rows fail.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.releaseWaiters(true);
      await this.flush();
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    })();
    return this.closing;
  }

  /** How batches are written on this server ('insert' on PGlite, or after COPY failed). */
  async writeMethod(): Promise<'copy' | 'insert'> {
    return (await this.detectBackend()).copy ? 'copy' : 'insert';
  }

  /** Re-read the partition list before the next batch (call after creating partitions). */
  invalidateRange(): void {
    this.ranges = undefined;
  }

  private armTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.pump();
    }, this.maxDelayMs);
  }

  /** Starts as many batches as the rules allow. */
  private pump(): void {
    while (
      this.inFlight.size < this.maxInFlight &&
      this.queue.length > 0 &&
      (this.queue.length >= this.maxBatch || this.due || this.taken < this.forceUpTo)
    ) {
      let batch: Entry[];
      if (this.queue.length <= this.maxBatch) {
        batch = this.queue;
        this.queue = [];
      } else {
        batch = this.queue.slice(0, this.maxBatch);
        this.queue = this.queue.slice(this.maxBatch);
      }
      this.taken += batch.length;
      this.inFlightRows += batch.length;
      const run: Promise<void> = this.runBatch(batch).then(() => {
        this.inFlight.delete(run);
        this.inFlightRows -= batch.length;
        this.releaseWaiters(false);
        this.pump();
      });
      this.inFlight.add(run);
    }
    if (this.queue.length === 0) {
      this.due = false;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.timer === undefined && !this.due) {
      this.armTimer();
    }
  }

  private releaseWaiters(all: boolean): void {
    if (this.spaceWaiters.length === 0) return;
    if (!all && this.buffered > this.lowWater) return;
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  /** Writes one batch and settles every row of it. Never rejects. */
  private async runBatch(batch: Entry[]): Promise<void> {
    const started = performance.now();
    const errors = new Map<Entry, Error>();
    let written = 0;
    try {
      written = await this.writeBatch(batch, errors);
    } catch (err) {
      // Not expected (writeBatch reports per row), but a row must never be left unsettled.
      const failure = asWriteError(err, batch.length);
      this.stats.failures += batch.length - errors.size;
      for (const e of batch) if (!errors.has(e)) errors.set(e, failure);
    }
    if (written > 0) {
      this.stats.batches++;
      this.stats.batchRows.observe(written);
    }
    this.stats.writeSeconds.observe((performance.now() - started) / 1000);
    for (const e of batch) settle(e.cb, errors.get(e), this.log);
  }

  /** Returns the rows stored (inserted or already there); puts the refused ones in `errors`. */
  private async writeBatch(batch: Entry[], errors: Map<Entry, Error>): Promise<number> {
    let rows = batch;
    let attempt = 0;
    let insert = false;
    let rangeReloaded = false;
    for (;;) {
      try {
        const backend = await this.detectBackend();
        rows = await this.filterRange(rows, errors, false);
        if (rows.length === 0) return 0;
        if (!insert && (!backend.copy || Date.now() < this.conflictModeUntil)) insert = true;
        if (!insert) {
          await this.copy(rows);
          this.stats.rowsWritten += rows.length;
          return rows.length;
        }
        const inserted = await this.insert(rows);
        this.stats.rowsWritten += inserted;
        this.stats.duplicates += rows.length - inserted;
        return rows.length;
      } catch (err) {
        const code = sqlState(err);
        if (code === '23505' && !insert) {
          // A redelivered row: the COPY rolled back as a whole; ON CONFLICT keeps the others.
          this.stats.copyFallbacks++;
          this.conflictModeUntil = Date.now() + this.conflictModeMs;
          insert = true;
          continue;
        }
        if (code === '08P01' && !insert) {
          // The server does not speak COPY (a proxy, an embedded server): stop trying it.
          this.log(`telemetry writer: COPY unavailable (${errorMessage(err)}); using INSERT`);
          this.backend = Promise.resolve({ copy: false });
          this.stats.copyFallbacks++;
          insert = true;
          continue;
        }
        if (code === '23514' && !rangeReloaded) {
          // "no partition of relation telemetry found for row": a partition went away (or the
          // range is stale). Re-read the partitions and refuse what they no longer cover.
          rangeReloaded = true;
          const before = rows.length;
          rows = await this.filterRange(rows, errors, true).catch(() => rows);
          if (rows.length < before) continue;
        }
        if (isTransient(code) && attempt < this.maxRetries) {
          attempt++;
          this.stats.retries++;
          // An interrupted COPY may have committed: retry only through ON CONFLICT DO NOTHING.
          insert = true;
          if (code === undefined || code.startsWith('08')) this.backend = undefined;
          await sleep(this.backoff(attempt));
          continue;
        }
        if (isDataError(code) && rows.length > 1) {
          return this.bisect(rows, errors);
        }
        const failure = asWriteError(err, rows.length, attempt);
        for (const e of rows) errors.set(e, failure);
        this.stats.failures += rows.length;
        this.log(`telemetry writer: ${failure.message}`);
        return 0;
      }
    }
  }

  /** Writes halves separately (through ON CONFLICT) until the failing rows stand alone. */
  private async bisect(rows: Entry[], errors: Map<Entry, Error>): Promise<number> {
    if (rows.length === 1) {
      try {
        const inserted = await this.insert(rows);
        this.stats.rowsWritten += inserted;
        this.stats.duplicates += 1 - inserted;
        return 1;
      } catch (err) {
        const failure = new TelemetryWriteError(
          `telemetry row refused by the database: ${errorMessage(err)}`,
          { cause: err },
        );
        errors.set(rows[0]!, failure);
        this.stats.failures++;
        return 0;
      }
    }
    const mid = rows.length >> 1;
    const left = await this.writeSubset(rows.slice(0, mid), errors);
    const right = await this.writeSubset(rows.slice(mid), errors);
    return left + right;
  }

  private async writeSubset(rows: Entry[], errors: Map<Entry, Error>): Promise<number> {
    try {
      const inserted = await this.insert(rows);
      this.stats.rowsWritten += inserted;
      this.stats.duplicates += rows.length - inserted;
      return rows.length;
    } catch (err) {
      if (isDataError(sqlState(err))) return this.bisect(rows, errors);
      const failure = asWriteError(err, rows.length);
      for (const e of rows) errors.set(e, failure);
      this.stats.failures += rows.length;
      return 0;
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempt - 1));
    return base * (0.8 + Math.random() * 0.4);
  }

  /** Once: is the server PGlite (no COPY over its socket)? */
  private detectBackend(): Promise<Backend> {
    if (this.backend !== undefined) return this.backend;
    const detecting = (async (): Promise<Backend> => {
      if (this.method === 'insert') return { copy: false };
      if (this.method === 'copy') return { copy: true };
      const { rows } = await this.pool.query<{ v: string }>('SELECT version() AS v');
      const pglite = /pglite/i.test(rows[0]?.v ?? '');
      if (pglite) this.log('telemetry writer: embedded PGlite detected; writing with INSERT');
      return { copy: !pglite };
    })();
    this.backend = detecting;
    detecting.catch(() => {
      if (this.backend === detecting) this.backend = undefined;
    });
    return detecting;
  }

  /** Moves rows no partition covers from `rows` to `errors`. */
  private async filterRange(
    rows: Entry[],
    errors: Map<Entry, Error>,
    forceReload: boolean,
  ): Promise<Entry[]> {
    let ranges = await this.loadRanges(forceReload ? 0 : this.rangeRefreshMs);
    let out = countOutside(rows, ranges);
    if (out === 0) return rows;
    if (Date.now() - ranges.loadedAt >= this.rangeRecheckMs) {
      ranges = await this.loadRanges(0);
      out = countOutside(rows, ranges);
      if (out === 0) return rows;
    }
    const kept: Entry[] = [];
    for (const e of rows) {
      if (covers(ranges, e.ts)) kept.push(e);
      else errors.set(e, new TelemetryOutOfRangeError(e.ts, ranges.intervals));
    }
    this.stats.outOfRange += rows.length - kept.length;
    return kept;
  }

  private async loadRanges(maxAgeMs: number): Promise<Ranges> {
    const cached = this.ranges;
    if (cached !== undefined && Date.now() - cached.loadedAt < maxAgeMs) return cached;
    if (this.rangesLoading !== undefined) return this.rangesLoading;
    const loading = (async (): Promise<Ranges> => {
      const loadedAt = Date.now();
      if ((await telemetryLayout(this.pool)) === 'hypertable') {
        return {
          intervals: [{ from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY }],
          loadedAt,
        };
      }
      const intervals: Array<{ from: number; to: number }> = [];
      for (const p of await listTelemetryPartitions(this.pool)) {
        const last = intervals[intervals.length - 1];
        if (last !== undefined && last.to >= p.from) last.to = Math.max(last.to, p.to);
        else intervals.push({ from: p.from, to: p.to });
      }
      return { intervals, loadedAt };
    })();
    this.rangesLoading = loading;
    try {
      const ranges = await loading;
      this.ranges = ranges;
      return ranges;
    } finally {
      this.rangesLoading = undefined;
    }
  }

  private async copy(rows: readonly Entry[]): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      const binary = this.copyFormat === 'binary';
      const stream = client.query(
        copyFrom(
          `COPY telemetry (device_id, ts, metrics) FROM STDIN${binary ? ' (FORMAT binary)' : ''}`,
        ),
      );
      stream.end(binary ? encodeBinary(rows) : encodeText(rows));
      await finished(stream);
    } catch (err) {
      if (!isSqlError(err) || sqlState(err)!.startsWith('08')) broken = err as Error;
      throw err;
    } finally {
      releaseClient(client, broken);
    }
  }

  /** INSERT ... ON CONFLICT DO NOTHING; returns the rows inserted. */
  private async insert(rows: readonly Entry[]): Promise<number> {
    const ids = new Array<number | string>(rows.length);
    const tss = new Array<number>(rows.length);
    let json = '[';
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      ids[i] = r.deviceId;
      tss[i] = r.ts;
      json += i === 0 ? r.json : `,${r.json}`;
    }
    json += ']';
    const res = await this.pool.query(INSERT_SQL, [ids, tss, json]);
    return res.rowCount ?? 0;
  }
}

function releaseClient(client: PoolClient, broken: Error | undefined): void {
  try {
    client.release(broken);
  } catch {
    // already released (the connection died and the pool dropped it)
  }
}

/** Validates and serialises a row; an Error when it cannot be stored. */
function toEntry(row: TelemetryRow, cb: CommitCallback | undefined): Entry | Error {
  if (row === null || typeof row !== 'object') return new TelemetryRowError('row is not an object');
  let deviceId: number | string = row.deviceId;
  if (typeof deviceId === 'number') {
    if (!Number.isSafeInteger(deviceId)) {
      return new TelemetryRowError(`device id ${deviceId} is not a safe integer`);
    }
  } else if (typeof deviceId === 'string') {
    if (!/^-?[0-9]{1,19}$/.test(deviceId)) {
      return new TelemetryRowError(`device id ${JSON.stringify(deviceId)} is not an integer`);
    }
    if (deviceId.length < 16) deviceId = Number(deviceId);
    else {
      const big = BigInt(deviceId);
      if (big > INT64_MAX || big < INT64_MIN) {
        return new TelemetryRowError(`device id ${deviceId} is out of bigint range`);
      }
      deviceId = big.toString(); // canonical (no leading zeros)
    }
  } else {
    return new TelemetryRowError(`device id of type ${typeof deviceId}`);
  }
  const ts = row.ts;
  if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < MIN_TS || ts > MAX_TS) {
    return new TelemetryRowError(`ts ${String(ts)} is not a valid time in ms`);
  }
  const metrics = row.metrics;
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) {
    return new TelemetryRowError('metrics is not an object');
  }
  let json: string;
  try {
    json = JSON.stringify(metrics);
  } catch (err) {
    return new TelemetryRowError(`metrics cannot be serialised: ${errorMessage(err)}`);
  }
  // JSONB refuses \u0000 and lone surrogates (JSON.stringify escapes both as \uXXXX): rare, so
  // only then pay for the sanitising serialiser.
  if (json.includes('\\u') && /\\u0000|\\ud[89a-f]/i.test(json)) {
    json = toJsonTextLenient(metrics) ?? '{}';
  }
  return { deviceId, ts: Math.trunc(ts), json, cb };
}

function countOutside(rows: readonly Entry[], ranges: Ranges): number {
  let n = 0;
  for (const e of rows) if (!covers(ranges, e.ts)) n++;
  return n;
}

function covers(ranges: Ranges, ts: number): boolean {
  for (const r of ranges.intervals) if (ts >= r.from && ts < r.to) return true;
  return false;
}

function settle(cb: CommitCallback | undefined, err: Error | undefined, log: (m: string) => void) {
  if (cb === undefined) return;
  try {
    if (err === undefined) cb();
    else cb(err);
  } catch (thrown) {
    log(`telemetry writer: a commit callback threw: ${errorMessage(thrown)}`);
  }
}

function settleLater(cb: CommitCallback | undefined, err: Error): void {
  if (cb === undefined) return;
  process.nextTick(() => {
    try {
      cb(err);
    } catch {
      // the caller's problem; the writer must go on
    }
  });
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function isSqlError(err: unknown): boolean {
  return sqlState(err) !== undefined;
}

/**
 * Worth retrying: no SQLSTATE (a network or pool error), connection exceptions (08), serialization
 * failure and deadlock (40001, 40P01), insufficient resources (53), operator intervention
 * (57: shutdown, statement timeout), lock not available (55P03), system errors (58).
 */
function isTransient(code: string | undefined): boolean {
  if (code === undefined) return true;
  const cls = code.slice(0, 2);
  return (
    cls === '08' ||
    cls === '53' ||
    cls === '57' ||
    cls === '58' ||
    code === '40001' ||
    code === '40P01' ||
    code === '55P03'
  );
}

/** A row's content was refused: class 22 (data exception), 23 (integrity), 54 (too large). */
function isDataError(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('22') || code.startsWith('23') || code === '54000');
}

function asWriteError(err: unknown, rows: number, retries = 0): TelemetryWriteError {
  const after = retries > 0 ? ` after ${retries} retries` : '';
  return new TelemetryWriteError(
    `writing ${rows} telemetry rows failed${after}: ${errorMessage(err)}`,
    {
      cause: err,
    },
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describeTs(ts: number): string {
  if (!Number.isFinite(ts)) return ts > 0 ? '+infinity' : '-infinity';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}

function positiveInt(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${what} must be a positive integer, got ${value}`);
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
