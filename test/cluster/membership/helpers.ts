import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { membershipKeys } from '../../../cluster/membership/redis.ts';
import type { Member, Topology } from '../../../cluster/membership/types.ts';

export const SHARED_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A cluster name no other test (here or in another engineer's run) uses. */
export function uniqueClusterName(): string {
  return `mtest-${randomBytes(6).toString('hex')}`;
}

let nextPort = 17_000;
export function member(id: string, incarnation = Date.now()): Member {
  nextPort += 1;
  return { id, address: `127.0.0.1:${nextPort}`, incarnation };
}

/** Deletes every key of the given cluster names. */
export async function deleteClusterKeys(url: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const keys = names.flatMap((n) => {
      const k = membershipKeys(n);
      return [k.members, k.leases, k.meta];
    });
    await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function ids(topology: Topology): string[] {
  return topology.members.map((m) => m.id);
}

/** Records what a provider delivers, with monotonic timestamps. */
export class Recorder {
  readonly topologies: { at: number; topology: Topology }[] = [];
  readonly leaseLost: number[] = [];
  readonly events: ({ kind: 'change'; topology: Topology } | { kind: 'leaseLost' })[] = [];

  attach(provider: {
    onChange(l: (t: Topology) => void): () => void;
    onLeaseLost(l: () => void): () => void;
  }): this {
    provider.onChange((topology) => {
      this.topologies.push({ at: performance.now(), topology });
      this.events.push({ kind: 'change', topology });
    });
    provider.onLeaseLost(() => {
      this.leaseLost.push(performance.now());
      this.events.push({ kind: 'leaseLost' });
    });
    return this;
  }

  epochs(): number[] {
    return this.topologies.map((t) => t.topology.epoch);
  }

  last(): Topology | undefined {
    return this.topologies.at(-1)?.topology;
  }

  /** First delivery at or after monotonic time `at` matching `predicate`. */
  firstAfter(at: number, predicate: (t: Topology) => boolean): number | undefined {
    return this.topologies.find((t) => t.at >= at && predicate(t.topology))?.at;
  }
}

export function expectStrictlyIncreasing(epochs: readonly number[]): void {
  for (let i = 1; i < epochs.length; i++) {
    const prev = epochs[i - 1] ?? 0;
    const cur = epochs[i] ?? 0;
    if (!(cur > prev)) throw new Error(`epochs not strictly increasing: ${epochs.join(', ')}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A private redis-server without persistence that a test may kill and restart. */
export class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) return;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitForAsync(`redis-server on ${this.port}`, () => ping(this.port), 5000);
  }

  /** SIGKILL: the data is gone (no persistence). */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }
}

async function waitForAsync(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

/** A loopback TCP proxy to Redis that a test can cut (refuse and drop) and restore. */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetPort);
    await proxy.restore();
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restore(): Promise<void> {
    if (this.server !== undefined) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops accepting and drops every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A Logger that keeps every line, for asserting which path the provider took. */
export class CapturingLogger {
  readonly lines: { level: string; msg: string; obj: object }[] = [];
  debug = (obj: object, msg = '') => this.lines.push({ level: 'debug', msg, obj });
  info = (obj: object, msg = '') => this.lines.push({ level: 'info', msg, obj });
  warn = (obj: object, msg = '') => this.lines.push({ level: 'warn', msg, obj });
  error = (obj: object, msg = '') => this.lines.push({ level: 'error', msg, obj });

  count(pattern: RegExp, level?: string): number {
    return this.lines.filter(
      (l) => pattern.test(l.msg) && (level === undefined || l.level === level),
    ).length;
  }
}
