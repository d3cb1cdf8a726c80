/**
 * Plumbing for `npm run bench:notify`: a scratch database per run (dropped at the end, also on
 * failure, and swept when a killed run left one behind), child processes that are always
 * killed, the receiver child's client, the open-loop pacer and latency statistics.
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import pg from 'pg';
import { createPool } from '../../db/pool.ts';
import { prepareDatabase } from '../../db/prepare.ts';
import { log, percentile, round } from '../lib/report.ts';
import type { ReceiverReply, ReceiverRequest } from './receiver.ts';

export const ADMIN_URL =
  process.env.GITO_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-millisecond precision, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

// ---- child processes -------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let exitHooked = false;

/** Registers a child so that it is SIGKILLed if this process exits for any reason. */
export function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', killChildrenNow);
  }
  return child;
}

/** Synchronous last resort: SIGKILL whatever is still running. */
export function killChildrenNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** Ends one child: SIGTERM, SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1 (for a child that needs one on its command line). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---- the receiver child ------------------------------------------------------------------------

export interface Arrivals {
  readonly keys: string[];
  readonly at: number[];
  readonly unkeyed: number;
}

/** The fake webhook receiver (receiver.ts) in its own process. */
export class Receiver {
  private waiters: Array<(r: ReceiverReply) => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (r: ReceiverReply) => this.waiters.shift()?.(r));
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<Receiver> {
    const child = track(
      fork(fileURLToPath(new URL('./receiver.ts', import.meta.url)), [], {
        // tsx's loader flags, without --expose-gc or profiling flags of the parent.
        execArgv: process.execArgv.filter(
          (a) => !a.startsWith('--expose-gc') && !a.includes('prof'),
        ),
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      }),
    );
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('receiver did not start in 30 s')), 30_000);
      child.once('message', (r: ReceiverReply) => {
        clearTimeout(timer);
        if (r.type === 'ready') resolve(r.port);
        else reject(new Error(`receiver: unexpected ${r.type}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`receiver exited (${code ?? signal}) before it listened`));
      });
    });
    return new Receiver(child, port);
  }

  private ask<T extends ReceiverReply['type']>(
    request: ReceiverRequest,
    type: T,
  ): Promise<Extract<ReceiverReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error('receiver is gone'));
        return;
      }
      this.waiters.push((r) => {
        if (r.type === type) resolve(r as Extract<ReceiverReply, { type: T }>);
        else reject(new Error(`receiver answered ${r.type} to ${request.type}`));
      });
      this.child.send(request);
    });
  }

  async count(): Promise<number> {
    return (await this.ask({ type: 'count' }, 'count')).count;
  }

  /** The arrivals since the last take (and forgets them). */
  async take(): Promise<Arrivals> {
    const r = await this.ask({ type: 'take' }, 'arrivals');
    return { keys: r.keys, at: r.at, unkeyed: r.unkeyed };
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }
}

/** Polls the receiver until it counted `expected` (returns true) or nothing came for `idleMs`. */
export async function waitForArrivals(
  receiver: Receiver,
  expected: number,
  options: { idleMs: number; timeoutMs: number; label: string },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  let last = -1;
  let lastChange = Date.now();
  let lastLog = Date.now();
  for (;;) {
    const n = await receiver.count();
    if (n >= expected) return true;
    if (n !== last) {
      last = n;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > options.idleMs || Date.now() > deadline) {
      log(`${options.label}: ${n} of ${expected} arrived; giving up waiting for the rest`);
      return false;
    }
    if (Date.now() - lastLog > 5_000) {
      lastLog = Date.now();
      log(`${options.label}: ${n} of ${expected} arrived, waiting`);
    }
    await sleep(20);
  }
}

// ---- load ----------------------------------------------------------------------------------

export interface PacedRun {
  /** Wall time of the first and last offer. */
  readonly firstAt: number;
  readonly lastAt: number;
  /** Offers made (the pacer never skips one; it falls behind instead). */
  readonly offered: number;
  /** Longest the pacer was behind its schedule (ms): > a few ms means the offered rate sagged. */
  readonly maxLagMs: number;
}

/**
 * Open-loop load: calls `offer(batchStart, batchSize)` every `tickMs` with the offers that fell
 * due since the previous tick, so that `total` offers are made at `ratePerSec` whatever the
 * system under test does with them (an offer is not awaited; its promise is tracked, errors
 * are counted by the caller). Resolves once every offer was made and every promise settled.
 */
export async function paced(
  total: number,
  ratePerSec: number,
  tickMs: number,
  offer: (start: number, count: number) => Promise<void>,
): Promise<PacedRun> {
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const firstAt = wallNow();
  let made = 0;
  let maxLagMs = 0;
  let lastAt = firstAt;
  while (made < total) {
    const elapsed = performance.now() - t0;
    const due = Math.min(total, Math.floor((elapsed / 1000) * ratePerSec) + 1);
    if (due > made) {
      const scheduledAt = (made / ratePerSec) * 1000;
      maxLagMs = Math.max(maxLagMs, elapsed - scheduledAt);
      const p = offer(made, due - made).finally(() => pending.delete(p));
      pending.add(p);
      made = due;
      lastAt = wallNow();
    }
    if (made < total) {
      const nextDue = (made / ratePerSec) * 1000;
      await sleep(Math.max(0, Math.min(tickMs, nextDue - (performance.now() - t0))));
    }
  }
  await Promise.all(pending);
  return { firstAt, lastAt, offered: made, maxLagMs };
}

/** Runs `count` jobs with at most `concurrency` in flight (a closed loop: as fast as it goes). */
export async function flood(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
): Promise<{ firstAt: number; lastAt: number }> {
  const firstAt = wallNow();
  let next = 0;
  let lastAt = firstAt;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await job(i);
      lastAt = wallNow();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { firstAt, lastAt };
}

// ---- statistics ----------------------------------------------------------------------------

export interface LatencySummary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Percentiles (nearest rank) of latencies in ms, rounded to µs. */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50), 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted[sorted.length - 1] ?? Number.NaN, 3),
    mean: round(sum / Math.max(1, sorted.length), 3),
  };
}

/**
 * Matches arrivals to offers: latency per delivered alert (first arrival), how many arrived
 * more than once, how many arrivals named an alert never offered, and the last arrival time.
 */
export function matchArrivals(
  offeredAt: ReadonlyMap<string, number>,
  arrivals: Arrivals,
): { latencies: number[]; duplicates: number; strangers: number; lastArrival: number } {
  const seen = new Set<string>();
  const latencies: number[] = [];
  let duplicates = 0;
  let strangers = 0;
  let lastArrival = 0;
  for (let i = 0; i < arrivals.keys.length; i++) {
    const key = arrivals.keys[i] as string;
    const at = arrivals.at[i] as number;
    const t0 = offeredAt.get(key);
    if (t0 === undefined) {
      strangers++;
      continue;
    }
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    latencies.push(at - t0);
    if (at > lastArrival) lastArrival = at;
  }
  return { latencies, duplicates, strangers, lastArrival };
}

// ---- scratch database ------------------------------------------------------------------------

const PREFIX = 'gito_bench_notify_';
/** A run lasts minutes: a scratch database older than this was left by a killed run. */
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'gito-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  readonly name: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

/**
 * A fresh migrated database `gito_bench_notify_<ms base 36>_<random>` with a pool of
 * `poolSize` connections (10 by default, what app/ nodes use); drop() removes it, and a process exit before that
 * drops it synchronously (best effort).
 */
export async function createScratchDatabase(poolSize = 10): Promise<ScratchDatabase> {
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`${PREFIX}%`],
    );
    for (const { datname } of rows) {
      const born = Number.parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
      if (Number.isFinite(born) && Date.now() - born > STALE_AFTER_MS) {
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
        log(`dropped stale database ${datname}`);
      }
    }
    await c.query(`CREATE DATABASE "${name}"`);
  });
  let dropped = false;
  const onExit = () => {
    if (dropped) return;
    spawnSync('psql', [ADMIN_URL, '-q', '-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`], {
      stdio: 'ignore',
      timeout: 5_000,
    });
  };
  process.on('exit', onExit);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), {
    applicationName: 'gito-bench-notify',
    max: poolSize,
    onError: (err) => log(`db pool: ${err.message}`),
  });
  let dropping: Promise<void> | undefined;
  const drop = () => {
    dropping ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        pool.end().catch(() => {}),
        new Promise((r) => {
          timer = setTimeout(r, 2_000);
        }),
      ]);
      clearTimeout(timer);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      dropped = true;
      process.off('exit', onExit);
      log(`dropped database ${name}`);
    })();
    return dropping;
  };
  try {
    await prepareDatabase(pool);
  } catch (err) {
    await drop();
    throw err;
  }
  log(`created database ${name}`);
  return { name, pool, drop };
}
