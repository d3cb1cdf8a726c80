/**
 * Process and service plumbing for bench/cluster/run.ts: a fresh PostgreSQL database and a random
 * cluster name per run, real `gito node` processes (bench/cluster/node.ts) with their log events,
 * a small keep-alive JSON client for their `/bench/*` routes, and cleanup that kills every child
 * process even when the run fails (try/finally, 'exit' and signal handlers).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { log } from '../lib/report.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const NODE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'node.ts');

export const wallNow = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A sleep that does not keep the process alive (for races against something else). */
const unrefSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

// ---- every child process we start, killed on any exit ---------------------------------------

const children = new Set<ChildProcess>();
let exitHooked = false;

/** Registers a child so that it is SIGKILLed if this process exits for any reason. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAllChildren);
}

function killAllChildren(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

// ---- HTTP ----------------------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

export function httpJson<T>(url: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method: payload === undefined ? 'GET' : 'POST',
        agent,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 500) >= 400) {
            reject(new Error(`${url}: HTTP ${res.statusCode} ${text}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no answer in ${timeoutMs} ms`)));
    req.end(payload);
  });
}

// ---- the cluster -----------------------------------------------------------------------------

export interface NodeState {
  node: string;
  epoch: number;
  settled: boolean;
  members: string[];
  active: number;
  byKind: Record<string, number>;
  stats: {
    passivatedForRebalance: number;
    remoteSent: number;
    remoteReceived: number;
    undeliverable: number;
    forwarded: number;
    held: number;
    handoffWaitMs: number;
  };
  sink: { count: number; doneAt: number };
  /** cluster/transport's counters, when the node could read them. */
  transport?: { outbound: Record<string, { framesSent: number; envelopesSent: number }> };
  /** Longest event-loop delay since the last /bench/stall/reset, when, and how many > 100 ms. */
  stall: { maxMs: number; at: number; over100: number };
  /** CPU time of the node process so far (user + system, all threads), µs. */
  cpuUs: number;
  at: number;
}

/** A log line of interest from a node: pino's `time` (ms) and fields. */
export interface NodeEvent {
  readonly node: string;
  readonly msg: string;
  readonly time: number;
  readonly epoch?: number;
  readonly members?: string[];
  readonly moved?: number;
  readonly waitedMs?: number;
}

export interface BenchNode {
  readonly id: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly grpc: string;
}

const EVENTS = [
  '"topology changed"',
  '"handoff settled"',
  '"handed off identities"',
  '"membership lease lost: stop hosting until re-joined"',
];

export class BenchCluster {
  readonly name = `bench-${randomBytes(4).toString('hex')}`;
  readonly database = `gito_bench_${randomBytes(6).toString('hex')}`;
  readonly nodes = new Map<string, BenchNode>();
  readonly events: NodeEvent[] = [];
  /** Last lines of each node's output, printed when something fails. */
  private readonly tails = new Map<string, string[]>();
  private dbCreated = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly env: Record<string, string>,
    private readonly logLines: (node: string, line: string) => void = () => {},
  ) {}

  get databaseUrl(): string {
    return `postgres://postgres@127.0.0.1:5432/${this.database}`;
  }

  async createDatabase(): Promise<void> {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${this.database}`);
      this.dbCreated = true;
    } finally {
      await client.end();
    }
    // If we die before close(), drop it synchronously on the way out (best effort).
    process.on('exit', () => {
      if (!this.dbCreated) return;
      spawnSync(
        'psql',
        [PG_ADMIN_URL, '-q', '-c', `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`],
        { stdio: 'ignore', timeout: 5_000 },
      );
    });
  }

  /** Starts `gito node` as a child process; resolves once it listens (it has joined by then). */
  async start(id: string): Promise<BenchNode> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith('GITO_')) env[k] = v;
    }
    // BENCH_CLUSTER_NODE_ARGS: extra node flags for the node processes (e.g. --cpu-prof).
    const extra = (process.env.BENCH_CLUSTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const child = spawn(process.execPath, [...extra, '--import', 'tsx', NODE_SCRIPT], {
      env: {
        ...env,
        GITO_NODE_ID: id,
        GITO_CLUSTER_NAME: this.name,
        GITO_REDIS_URL: REDIS_URL,
        GITO_DATABASE_URL: this.databaseUrl,
        GITO_HTTP_PORT: '0',
        GITO_GRPC_LISTEN: '127.0.0.1:0',
        GITO_LOG_LEVEL: 'info',
        ...this.env,
      },
      // stdin is a pipe the node watches: if we die, it sees EOF and exits.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    const tail: string[] = [];
    this.tails.set(id, tail);
    const push = (line: string) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      this.logLines(id, line);
    };
    child.stderr!.on('data', (d: Buffer) => push(`ERR ${d.toString().trimEnd()}`));
    const started = new Promise<{ url: string; grpc: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not start in 60 s`)), 60_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        push(line);
        if (EVENTS.some((e) => line.includes(e))) {
          const o = JSON.parse(line) as Record<string, unknown>;
          this.events.push({
            node: id,
            msg: o.msg as string,
            time: o.time as number,
            ...(typeof o.epoch === 'number' ? { epoch: o.epoch } : {}),
            ...(Array.isArray(o.members) ? { members: o.members as string[] } : {}),
            ...(typeof o.moved === 'number' ? { moved: o.moved } : {}),
            ...(typeof o.waitedMs === 'number' ? { waitedMs: o.waitedMs } : {}),
          });
        } else if (line.includes('"gito node started"')) {
          clearTimeout(timer);
          const o = JSON.parse(line) as { httpUrl: string; grpc: string };
          resolve({ url: o.httpUrl, grpc: o.grpc });
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited (${code ?? signal}) before starting:\n${tail.join('\n')}`));
      });
    });
    const { url, grpc } = await started;
    const node: BenchNode = { id, child, url, grpc };
    this.nodes.set(id, node);
    return node;
  }

  node(id: string): BenchNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  state(id: string): Promise<NodeState> {
    return httpJson<NodeState>(`${this.node(id).url}/bench/state`, undefined, 10_000);
  }

  post<T>(id: string, path: string, body: unknown, timeoutMs?: number): Promise<T> {
    return httpJson<T>(`${this.node(id).url}${path}`, body, timeoutMs);
  }

  /**
   * Polls until every node in `ids` is settled on one epoch whose members are exactly `ids`.
   * Returns the states and when the poll saw it.
   */
  async converged(
    ids: readonly string[],
    timeoutMs = 30_000,
    intervalMs = 5,
  ): Promise<{ states: NodeState[]; at: number }> {
    const want = [...ids].sort().join(',');
    const start = Date.now();
    for (;;) {
      const states = await Promise.all(ids.map((id) => this.state(id).catch(() => undefined)));
      const at = wallNow();
      if (
        states.every((s) => s?.settled && [...s.members].sort().join(',') === want) &&
        new Set(states.map((s) => s?.epoch)).size === 1
      ) {
        return { states: states as NodeState[], at };
      }
      if (Date.now() - start > timeoutMs) {
        throw new Error(`cluster did not converge on ${want}: ${JSON.stringify(states)}`);
      }
      await sleep(intervalMs);
    }
  }

  /** SIGKILL; returns the wall time just before the signal. */
  kill(id: string): number {
    const node = this.node(id);
    const at = wallNow();
    node.child.kill('SIGKILL');
    this.nodes.delete(id);
    return at;
  }

  tail(id: string): string {
    return (this.tails.get(id) ?? []).join('\n');
  }

  /**
   * Kills every node, drops the database and the cluster's Redis keys. Idempotent: a second
   * caller (a signal arriving while the run fails, say) waits for the first to finish.
   */
  close(): Promise<void> {
    this.closing ??= this.runClose();
    return this.closing;
  }

  private async runClose(): Promise<void> {
    const t0 = performance.now();
    const all = [...children];
    for (const child of all) child.kill('SIGKILL');
    await Promise.all(
      all.map((c) =>
        c.exitCode === null && c.signalCode === null
          ? Promise.race([once(c, 'exit'), unrefSleep(5_000)])
          : undefined,
      ),
    );
    this.nodes.clear();
    const killed = performance.now();
    if (this.dbCreated) {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      try {
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
        this.dbCreated = false;
      } catch (err) {
        log(`could not drop database ${this.database}: ${String(err)}`);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `{${this.name}}:*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      if (keys.length > 0) await redis.del(...keys);
    } catch (err) {
      log(`could not remove Redis keys of ${this.name}: ${String(err)}`);
    } finally {
      redis.disconnect();
    }
    log(
      `cleanup: killed ${all.length} child processes in ${Math.round(killed - t0)} ms, dropped ${this.database} and the Redis keys in ${Math.round(performance.now() - killed)} ms`,
    );
  }
}

/** Runs `body`, always closing the cluster; SIGINT/SIGTERM also close it before exiting. */
export async function withCluster<T>(cluster: BenchCluster, body: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void cluster.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body();
  } finally {
    await cluster.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
