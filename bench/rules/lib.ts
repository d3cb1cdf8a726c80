/**
 * Plumbing for `npm run bench:rules`: a scratch database per run (dropped at the end, also on
 * failure, and swept when a killed run left one behind), latency statistics and small waits.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import pg from 'pg';
import { createPool } from '../../db/pool.ts';
import { prepareDatabase } from '../../db/prepare.ts';
import { log, percentile, round } from '../lib/report.ts';

export const ADMIN_URL =
  process.env.GITO_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const PREFIX = 'gito_bench_rules_';
/** A run lasts minutes: a scratch database older than this was left by a killed run. */
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-millisecond precision, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'gito-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh migrated database `gito_bench_rules_<ms base 36>_<random>`; drop() removes it. */
export interface ScratchDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

export async function createScratchDatabase(): Promise<ScratchDatabase> {
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
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), {
    applicationName: 'gito-bench-rules',
    max: 10,
    statementTimeoutMs: 0,
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
  return { name, url: url.toString(), pool, drop };
}

/** Device keys `d000000`, `d000001`, ... */
export function deviceKey(i: number): string {
  return `d${String(i).padStart(6, '0')}`;
}

export interface LatencySummary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Percentiles (nearest rank) of latencies in ms, rounded to µs. */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50), 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted[sorted.length - 1] ?? Number.NaN, 3),
    mean: round(sum / sorted.length, 3),
  };
}

/** Polls `probe` every `everyMs` until it returns true; throws naming `what` after `timeoutMs`. */
export async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 2,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Resolves when the pool has no query in flight and none waiting, apart from `held` clients
 * checked out for good (the rule catalogue keeps one for LISTEN).
 */
export function poolQuiet(pool: Pool, held = 0): Promise<void> {
  return until(
    () => pool.waitingCount === 0 && pool.totalCount - pool.idleCount <= held,
    'the database pool to go quiet',
    30_000,
    1,
  );
}
