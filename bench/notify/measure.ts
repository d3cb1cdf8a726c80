/**
 * The measured runs of `npm run bench:notify`, one system at a time: a warm-up, then
 * - paced: RATE alerts/s offered open-loop for a fixed count (latency at that load, and the
 *   deliveries/s achieved: delivered / (last arrival - first offer));
 * - flood: a fixed count offered as fast as the system takes them, with bounded concurrency
 *   (throughput at saturation: delivered / (last arrival - first offer)).
 * Gito and Alertmanager are driven through the same pacer and measured by the same receiver.
 */
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import pg from 'pg';
import { log, round, sig } from '../lib/report.ts';
import { type Alertmanager, amAlert, procCpuMs } from './alertmanager.ts';
import type { GitoNode } from './gito.ts';
import { GROUPS } from './gito.ts';
import {
  flood,
  type LatencySummary,
  matchArrivals,
  paced,
  type Receiver,
  summarize,
  waitForArrivals,
  wallNow,
} from './lib.ts';

export interface RunResult {
  readonly offered: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly strangers: number;
  readonly failedOffers: number;
  /** Delivered / (last arrival - first offer), per second. */
  readonly deliveriesPerSec: number;
  /** Offers made per second (the pacer's achieved rate, or the flood's intake rate). */
  readonly offeredPerSec: number;
  readonly seconds: number;
  readonly latency: LatencySummary;
  /** The pacer's worst lag behind schedule (paced runs). */
  readonly maxLagMs?: number;
  /** CPU of the system under test per delivered alert (ms): its process(es), and PostgreSQL's. */
  readonly cpuMsPerAlert: number;
  readonly pgCpuMsPerAlert?: number;
  /** Gito: how long AlertStore.open took (ms). */
  readonly open?: LatencySummary;
  /** Gito: database round trips per alert, and the statements that made most of them. */
  readonly queriesPerAlert?: number;
  readonly topQueries?: readonly { sql: string; perAlert: number; msPerCall: number }[];
  /** Gito: queries waiting for one of the pool's connections, sampled every 20 ms (mean, max). */
  readonly poolWaiting?: {
    readonly mean: number;
    readonly max: number;
    readonly busyShare: number;
  };
  /** Gito: the latency split into stages (ms; see gito.ts StageStamps). */
  readonly stages?: Record<string, LatencySummary>;
}

export interface RunPlan {
  readonly label: string;
  readonly count: number;
  /** Offered alerts/s; 0 = flood. */
  readonly rate: number;
  readonly concurrency: number;
}

function result(
  plan: RunPlan,
  offeredAt: Map<string, number>,
  arrivals: Awaited<ReturnType<Receiver['take']>>,
  firstAt: number,
  lastOfferAt: number,
  failedOffers: number,
  cpuMs: number,
  extra: Partial<RunResult>,
): RunResult {
  const m = matchArrivals(offeredAt, arrivals);
  const seconds = (m.lastArrival - firstAt) / 1000;
  const delivered = m.latencies.length;
  const r: RunResult = {
    offered: offeredAt.size + failedOffers,
    delivered,
    duplicates: m.duplicates,
    strangers: m.strangers + arrivals.unkeyed,
    failedOffers,
    deliveriesPerSec: round(delivered / Math.max(seconds, 1e-9), 1),
    offeredPerSec: round(plan.count / Math.max((lastOfferAt - firstAt) / 1000, 1e-9), 1),
    seconds: round(seconds, 3),
    latency: summarize(m.latencies),
    cpuMsPerAlert: round(cpuMs / Math.max(delivered, 1), 4),
    ...extra,
  };
  log(
    `${plan.label}: ${delivered}/${r.offered} delivered in ${r.seconds} s = ${sig(r.deliveriesPerSec, 4)}/s (offered ${sig(r.offeredPerSec, 4)}/s); latency ms ${JSON.stringify(r.latency)}; cpu ${r.cpuMsPerAlert} ms/alert${r.pgCpuMsPerAlert === undefined ? '' : `, postgres ${r.pgCpuMsPerAlert} ms/alert`}${r.duplicates > 0 ? `; ${r.duplicates} duplicates` : ''}${r.strangers > 0 ? `; ${r.strangers} strangers` : ''}${failedOffers > 0 ? `; ${failedOffers} offers failed` : ''}`,
  );
  return r;
}

const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- Alertmanager ----------------------------------------------------------------------------

export interface AmOptions {
  /** Paced runs: one POST per this many ms with the alerts that fell due. */
  readonly tickMs: number;
  /** Flood: alerts per POST (Prometheus' notifier sends up to 64). */
  readonly floodBatch: number;
}

export async function runAlertmanager(
  am: Alertmanager,
  receiver: Receiver,
  plan: RunPlan,
  options: AmOptions,
): Promise<RunResult> {
  await receiver.take();
  const offeredAt = new Map<string, number>();
  let failed = 0;
  let firstError: unknown;
  const prefix = `${plan.label}-`;
  const send = async (start: number, count: number) => {
    const now = wallNow();
    const startsAt = new Date(now).toISOString();
    const batch = [];
    for (let i = start; i < start + count; i++) {
      const id = `${prefix}${i}`;
      batch.push(amAlert(id, i % GROUPS, startsAt));
      offeredAt.set(id, now);
    }
    try {
      await am.post(batch);
    } catch (err) {
      failed += count;
      for (let i = start; i < start + count; i++) offeredAt.delete(`${prefix}${i}`);
      firstError ??= err;
    }
  };
  const cpu0 = am.cpuMs();
  let firstAt: number;
  let lastOfferAt: number;
  let maxLagMs: number | undefined;
  if (plan.rate > 0) {
    const run = await paced(plan.count, plan.rate, options.tickMs, send);
    firstAt = run.firstAt;
    lastOfferAt = run.lastAt;
    maxLagMs = round(run.maxLagMs, 1);
  } else {
    const batches = Math.ceil(plan.count / options.floodBatch);
    const run = await flood(batches, plan.concurrency, (b) =>
      send(
        b * options.floodBatch,
        Math.min(options.floodBatch, plan.count - b * options.floodBatch),
      ),
    );
    firstAt = run.firstAt;
    lastOfferAt = run.lastAt;
  }
  if (firstError !== undefined)
    log(`${plan.label}: ${failed} alerts refused: ${String(firstError)}`);
  await waitForArrivals(receiver, offeredAt.size, {
    idleMs: 10_000,
    timeoutMs: 120_000,
    label: plan.label,
  });
  const cpu = am.cpuMs() - cpu0;
  const arrivals = await receiver.take();
  return result(plan, offeredAt, arrivals, firstAt, lastOfferAt, failed, cpu, {
    ...(maxLagMs === undefined ? {} : { maxLagMs }),
  });
}

// ---- Gito ------------------------------------------------------------------------------------

export interface QueryStat {
  readonly sql: string;
  readonly count: number;
  /** Sum of round-trip times (ms): sent to answered, as this process saw it. */
  readonly ms: number;
}

/**
 * Counts database round trips by statement, with their round-trip time (diagnostics: what an
 * alert costs). Patches pg.Client.prototype.query for the bench process only; restore() undoes
 * it. pg's Pool.query passes a callback, a PoolClient's query returns a promise: both timed.
 */
export function countQueries(): {
  reset(): void;
  total(): number;
  top(n: number): QueryStat[];
  restore(): void;
} {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  const stats = new Map<string, { count: number; ms: number }>();
  let total = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: string } | null)?.text;
    if (typeof text !== 'string') return original.apply(this, args);
    total++;
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 100);
    let stat = stats.get(key);
    if (stat === undefined) {
      stat = { count: 0, ms: 0 };
      stats.set(key, stat);
    }
    stat.count++;
    const entry = stat;
    const t0 = performance.now();
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (...cbArgs: unknown[]) => {
        entry.ms += performance.now() - t0;
        return (callback as (...a: unknown[]) => unknown)(...cbArgs);
      };
      return original.apply(this, args);
    }
    const out = original.apply(this, args);
    if (out instanceof Promise) {
      return out.finally(() => {
        entry.ms += performance.now() - t0;
      });
    }
    return out;
  };
  return {
    reset: () => {
      stats.clear();
      total = 0;
    },
    total: () => total,
    top: (n) =>
      [...stats.entries()]
        .sort((a, b) => b[1].count - a[1].count || b[1].ms - a[1].ms)
        .slice(0, n)
        .map(([sql, s]) => ({ sql, count: s.count, ms: s.ms })),
    restore: () => {
      proto.query = original;
    },
  };
}

/** CPU (ms) of the PostgreSQL backends serving `database` (Linux /proc; 0 elsewhere). */
export async function postgresCpuMs(pool: Pool, database: string): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1',
    [database],
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) out.set(pid, procCpuMs(pid));
  return out;
}

function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0);
  return sum;
}

export async function runGito(
  node: GitoNode,
  receiver: Receiver,
  plan: RunPlan,
  db: { pool: Pool; name: string },
  queries: ReturnType<typeof countQueries>,
): Promise<RunResult> {
  await receiver.take();
  node.stages.clear();
  const offeredAt = new Map<string, number>();
  const openedAt = new Map<string, number>();
  const openMs: number[] = [];
  let failed = 0;
  let firstError: unknown;
  const openOne = async (i: number) => {
    const t0 = wallNow();
    try {
      const opened = await node.open(i, Math.round(t0));
      offeredAt.set(opened.id, t0);
      openedAt.set(opened.id, opened.openedAt);
      openMs.push(opened.openedAt - t0);
    } catch (err) {
      failed++;
      firstError ??= err;
    }
  };
  const base = nextIndex;
  nextIndex += plan.count;
  const pg0 = await postgresCpuMs(db.pool, db.name);
  const cpu0 = processCpuMs();
  queries.reset();
  let samples = 0;
  let waitingSum = 0;
  let waitingMax = 0;
  let allBusy = 0;
  const sampler = setInterval(() => {
    const p = db.pool;
    samples++;
    waitingSum += p.waitingCount;
    waitingMax = Math.max(waitingMax, p.waitingCount);
    if (p.idleCount === 0 && p.totalCount >= (p.options.max ?? 10)) allBusy++;
  }, 20);
  let firstAt: number;
  let lastOfferAt: number;
  let maxLagMs: number | undefined;
  if (plan.rate > 0) {
    const run = await paced(plan.count, plan.rate, 1, async (start, count) => {
      const jobs: Promise<void>[] = [];
      for (let i = start; i < start + count; i++) jobs.push(openOne(base + i));
      await Promise.all(jobs);
    });
    firstAt = run.firstAt;
    lastOfferAt = run.lastAt;
    maxLagMs = round(run.maxLagMs, 1);
  } else {
    const run = await flood(plan.count, plan.concurrency, (i) => openOne(base + i));
    firstAt = run.firstAt;
    lastOfferAt = run.lastAt;
  }
  if (firstError !== undefined) log(`${plan.label}: ${failed} opens failed: ${String(firstError)}`);
  await waitForArrivals(receiver, offeredAt.size, {
    idleMs: 10_000,
    timeoutMs: 120_000,
    label: plan.label,
  });
  clearInterval(sampler);
  const poolWaiting = {
    mean: round(waitingSum / Math.max(samples, 1), 1),
    max: waitingMax,
    busyShare: round(allBusy / Math.max(samples, 1), 3),
  };
  log(
    `  pool: ${poolWaiting.mean} queries waiting on average (max ${poolWaiting.max}); every connection busy in ${Math.round(poolWaiting.busyShare * 100)} % of samples`,
  );
  const cpu = processCpuMs() - cpu0;
  const pgCpu = cpuDelta(pg0, await postgresCpuMs(db.pool, db.name));
  const totalQueries = queries.total();
  const top = queries.top(30);
  const arrivals = await receiver.take();
  const delivered = Math.max(1, offeredAt.size);
  const arrivedAt = new Map<string, number>();
  for (let i = 0; i < arrivals.keys.length; i++) {
    const key = arrivals.keys[i] as string;
    if (!arrivedAt.has(key)) arrivedAt.set(key, arrivals.at[i] as number);
  }
  const { askStart, planned, askEnd, sendStart } = node.stages;
  const stages = {
    open: stage(offeredAt, openedAt),
    relay: stage(openedAt, askStart),
    actorLookups: stage(askStart, planned),
    actorTurn: stage(askStart, askEnd),
    commitToSend: stage(planned, sendStart),
    http: stage(sendStart, arrivedAt),
  };
  for (const [name, s] of Object.entries(stages)) {
    log(`  stage ${name.padEnd(16)} p50 ${s.p50} ms, p99 ${s.p99} ms (n ${s.n})`);
  }
  return result(plan, offeredAt, arrivals, firstAt, lastOfferAt, failed, cpu, {
    ...(maxLagMs === undefined ? {} : { maxLagMs }),
    pgCpuMsPerAlert: round(pgCpu / delivered, 4),
    open: summarize(openMs),
    poolWaiting,
    stages,
    queriesPerAlert: round(totalQueries / delivered, 2),
    topQueries: top.map((q) => ({
      sql: q.sql,
      perAlert: round(q.count / delivered, 3),
      msPerCall: round(q.ms / q.count, 3),
    })),
  });
}

/** Per alert id: `to - from` where both were stamped. */
function stage(from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>): LatencySummary {
  const out: number[] = [];
  for (const [id, t0] of from) {
    const t1 = to.get(id);
    if (t1 !== undefined) out.push(t1 - t0);
  }
  return summarize(out);
}

/** Alert indexes are never reused: every alert opened is new (device d<i>). */
let nextIndex = 0;

/** Linux: the 1, 5 and 15-minute load averages, for the log. */
export function loadNote(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}
