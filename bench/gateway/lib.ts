/**
 * Plumbing for `npm run bench:gateway`: child processes driven over IPC and always killed, CPU
 * accounting per process, and a scratch PostgreSQL database per run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import pg from 'pg';
import { createPool } from '../../db/pool.ts';
import { prepareDatabase } from '../../db/prepare.ts';
import { log } from '../lib/report.ts';

// ---- child processes ---------------------------------------------------------------------------

/** Every child process this run started; killed on the way out whatever happens. */
const children = new Set<ChildProcess>();

/** Synchronous last resort (process 'exit' handler): SIGKILL whatever is still running. */
export function killChildrenNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** A request to a child and its answer carry the same `id`. */
export interface RpcRequest {
  readonly type: string;
  readonly [field: string]: unknown;
}

interface RpcReply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/**
 * One child process started with `fork` (same Node, same tsx loader as this one, so the servers
 * and the load generator are the same kind of process), answering requests over IPC. It reports
 * `{type: 'ready', ...}` once it can serve; every later message answers a call().
 */
export class Child<Ready = unknown> {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private exited: Error | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly ready: Ready,
  ) {
    child.on('message', (m: RpcReply) => {
      const waiter = this.pending.get(m.id);
      if (waiter === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) waiter.resolve(m.result);
      else waiter.reject(new Error(`${name}: ${m.error}`));
    });
    child.once('exit', (code, signal) => {
      this.exited = new Error(`${name} exited (${code ?? signal})`);
      for (const w of this.pending.values()) w.reject(this.exited);
      this.pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Forks `script` (a file of this folder) and waits for its ready message. `extraExecArgv` are
   * Node flags for the child only (e.g. --cpu-prof).
   */
  static async start<R>(
    name: string,
    script: string,
    env: Record<string, string>,
    extraExecArgv: readonly string[] = [],
    timeoutMs = 60_000,
  ): Promise<Child<R>> {
    const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      // tsx's loader flags, without this process's own diagnostics flags.
      execArgv: [
        ...process.execArgv.filter((a) => !a.startsWith('--expose-gc') && !a.includes('prof')),
        ...extraExecArgv,
      ],
      env: { ...process.env, ...env },
      // Servers log JSON to stdout: not ours (stdout carries only figures). stderr is shared.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Latency samples travel as Float64Arrays.
      serialization: 'advanced',
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const ready = await new Promise<R>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name}: not ready in ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.once('message', (m: { type: string; error?: string }) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve(m as R);
        else reject(new Error(`${name}: ${m.error ?? JSON.stringify(m)}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it was ready (${code ?? signal})`));
      });
    }).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    });
    return new Child<R>(name, child, ready);
  }

  call<T>(request: RpcRequest): Promise<T> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  /**
   * Asks the child to exit (it finishes what it must, e.g. writes a CPU profile), SIGKILL after
   * `graceMs`.
   */
  async stop(graceMs = 10_000): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    if (c.connected) c.send({ type: 'exit', id: 0 });
    else c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The child's side of Child: sends `ready`, then answers each request with `handle`'s result.
 * `{type: 'exit'}` runs `onExit` and ends the process with code 0 (so --cpu-prof writes its file).
 */
export function serveParent(
  ready: Record<string, unknown>,
  handle: (request: RpcRequest) => Promise<unknown>,
  onExit: () => Promise<void>,
): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('start this file through bench/gateway/run.ts (IPC)');
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    void onExit()
      .catch((err: unknown) => process.stderr.write(`exit: ${String(err)}\n`))
      .finally(() => process.exit(0));
  };
  process.on('message', (m: RpcRequest & { id: number }) => {
    if (m.type === 'exit') {
      exit();
      return;
    }
    handle(m).then(
      (result) => send({ id: m.id, ok: true, result }),
      (err: unknown) =>
        send({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // The parent went away (killed): do not linger.
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  send({ type: 'ready', ...ready });
}

// ---- CPU accounting ----------------------------------------------------------------------------

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of a process, ms (0 when it is gone or /proc is missing). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Busy CPU time of the whole machine (all cores), ms. */
function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return (total - (v[3] ?? 0) - (v[4] ?? 0)) * TICK_MS;
  } catch {
    return 0;
  }
}

/**
 * Samples named processes (one pid or several, e.g. PostgreSQL backends) now; `end()` gives the
 * cores each used on average since then, plus `other` (the rest of the machine's busy time).
 */
export function cpuSampler(pids: Record<string, readonly number[]>) {
  const read = () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, ps]) => [name, ps.reduce((a, p) => a + processCpuMs(p), 0)]),
    );
  const t0 = performance.now();
  const m0 = machineBusyMs();
  const p0 = read();
  return {
    end(): Record<string, number> {
      const wall = performance.now() - t0;
      const p1 = read();
      const out: Record<string, number> = {};
      let accounted = 0;
      for (const name of Object.keys(p1)) {
        const d = Math.max(0, p1[name]! - p0[name]!);
        out[name] = Math.round((d / wall) * 100) / 100;
        accounted += d;
      }
      out.other = Math.round((Math.max(0, machineBusyMs() - m0 - accounted) / wall) * 100) / 100;
      return out;
    },
  };
}

// ---- scratch database --------------------------------------------------------------------------

export const ADMIN_URL =
  process.env.GITO_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database `gito_bench_gateway_<random>`, migrated with partitions; drop() removes it. */
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

const PREFIX = 'gito_bench_gateway_';
/** A run lasts minutes: a scratch database older than this was left by a killed run. */
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

/** Drops this benchmark's databases left behind by killed runs (older than two hours). */
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
    max: 4,
    statementTimeoutMs: 0,
    onError: (err) => log(`db pool: ${err.message}`),
  });
  let dropping: Promise<void> | undefined;
  // Idempotent; every caller waits for the same drop. Connections still open (a killed server's)
  // are terminated by DROP ... WITH (FORCE).
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

/** Pids of this database's PostgreSQL backends (their CPU is part of the gateway's cost). */
export async function backendPids(db: ScratchDatabase): Promise<number[]> {
  const { rows } = await db.pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [db.name],
  );
  return rows.map((r) => r.pid);
}
