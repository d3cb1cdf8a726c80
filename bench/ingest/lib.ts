/**
 * Plumbing for `npm run bench:ingest`: child processes that are always killed, the publisher
 * child, and a scratch PostgreSQL database per run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import pg from 'pg';
import { createPool } from '../../db/pool.ts';
import { prepareDatabase } from '../../db/prepare.ts';
import { log } from '../lib/report.ts';
import type { PublisherReport, PublishOrder } from './publisher.ts';

/** Every child process this run started; killed on the way out whatever happens. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Synchronous last resort (process 'exit' handler): SIGKILL whatever is still running. */
export function killChildrenNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** Ends one child: SIGTERM, SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The publisher child (bench/ingest/publisher.ts), driven over IPC. */
export class Publisher {
  private waiters: Array<(r: PublisherReport) => void> = [];
  readonly pid: number | undefined;
  private failure: Error | undefined;

  private constructor(private readonly child: ChildProcess) {
    this.pid = child.pid;
    child.on('message', (r: PublisherReport) => {
      if (r.type === 'error') {
        this.failure = new Error(`publisher: ${r.message}`);
        log(`publisher error: ${r.message}`);
      }
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w(r);
    });
    child.once('exit', (code, signal) => {
      this.failure ??= new Error(`publisher exited (${code ?? signal})`);
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w({ type: 'error', message: this.failure.message });
    });
  }

  static async start(url: string, clientId: string): Promise<Publisher> {
    const child = track(
      fork(fileURLToPath(new URL('./publisher.ts', import.meta.url)), [url, clientId], {
        // tsx's loader flags, without --expose-gc or profiling flags of the parent.
        execArgv: process.execArgv.filter(
          (a) => !a.startsWith('--expose-gc') && !a.includes('prof'),
        ),
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      }),
    );
    const p = new Publisher(child);
    await p.next('ready');
    return p;
  }

  private next<T extends PublisherReport['type']>(
    type: T,
  ): Promise<Extract<PublisherReport, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) {
        reject(this.failure);
        return;
      }
      const wait = (r: PublisherReport) => {
        if (r.type === type) resolve(r as Extract<PublisherReport, { type: T }>);
        else if (r.type === 'error') reject(this.failure ?? new Error(r.message));
        else this.waiters.push(wait);
      };
      this.waiters.push(wait);
    });
  }

  /**
   * Publishes one batch. Resolves with the first publish time once that is known; `done`
   * resolves when every message got its PUBACK.
   */
  async publish(order: Omit<PublishOrder, 'type'>): Promise<{
    startedAt: number;
    done: Promise<Extract<PublisherReport, { type: 'done' }>>;
  }> {
    const started = this.next('started');
    const done = this.next('done');
    done.catch(() => {});
    this.child.send({ type: 'go', ...order } satisfies PublishOrder);
    const s = await started;
    return { startedAt: s.at, done };
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.send({ type: 'exit' });
    const exited = new Promise((r) => this.child.once('exit', r));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    if (this.child.exitCode === null && this.child.signalCode === null) await exited;
    clearTimeout(timer);
  }
}

export const ADMIN_URL =
  process.env.GITO_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database `gito_bench_<random>`, migrated with partitions; drop() removes it. */
export interface ScratchDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'gito-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const PREFIX = 'gito_bench_ingest_';
/** A run lasts minutes: a scratch database older than this was left by a killed run. */
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

/**
 * Drops scratch databases left behind by killed runs of this benchmark (gito_bench_ingest_<ms in
 * base 36>_<random>; other benchmarks' gito_bench_* databases are not touched).
 */
async function sweepStale(c: pg.Client): Promise<void> {
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
}

export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(async (c) => {
    await sweepStale(c);
    await c.query(`CREATE DATABASE "${name}"`);
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), {
    applicationName: 'gito-bench',
    max: 10,
    statementTimeoutMs: 0,
    onError: (err) => log(`db pool: ${err.message}`),
  });
  let dropping: Promise<void> | undefined;
  // Idempotent; every caller waits for the same drop. The pool gets a moment to close; a
  // connection still busy (a COPY cut short) is then terminated by DROP ... WITH (FORCE).
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

export const nowMs = () => performance.timeOrigin + performance.now();
