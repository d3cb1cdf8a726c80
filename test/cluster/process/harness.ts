import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';

export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly lifecycleLog: string;
  /** Wall time (ms) at which the test killed it, if it did. */
  killedAt?: number;
}

export interface AskResult {
  ok: boolean;
  value?: unknown;
  error?: string;
  message?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** Minimal JSON-over-HTTP client with keep-alive (load tests make thousands of calls). */
function httpJson(url: string, method: 'GET' | 'POST', body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method,
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
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('http timeout')));
    req.end(payload);
  });
}

export class ProcessCluster {
  readonly name = `test-${randomBytes(4).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'gito-cluster-'));
  readonly nodes = new Map<string, NodeProcess>();
  readonly logs: string[] = [];

  constructor(
    private readonly redisUrl: string,
    private readonly databaseUrl: string,
  ) {}

  async start(id: string, env: Record<string, string> = {}): Promise<NodeProcess> {
    const lifecycleLog = join(this.dir, `${id}.lifecycle.jsonl`);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/cluster/process/fixture-node.ts'],
      {
        env: {
          ...process.env,
          GITO_NODE_ID: id,
          GITO_CLUSTER_NAME: this.name,
          GITO_REDIS_URL: this.redisUrl,
          GITO_DATABASE_URL: this.databaseUrl,
          GITO_HTTP_PORT: '0',
          GITO_GRPC_LISTEN: '127.0.0.1:0',
          GITO_HEARTBEAT_INTERVAL_MS: '100',
          GITO_MISSED_HEARTBEATS: '4',
          GITO_LIFECYCLE_LOG: lifecycleLog,
          GITO_LOG_LEVEL: 'info',
          // Each test cluster its own share group: sessions of killed nodes stay in theirs.
          GITO_MQTT_SHARE_GROUP: this.name,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const httpUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not start in time`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.logs.push(`${id} ${line}`);
        if (line.includes('"gito node started"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line).httpUrl as string);
        }
      });
      child.stderr!.on('data', (d: Buffer) => this.logs.push(`${id} ERR ${d.toString()}`));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${id} exited with ${code} before starting:\n${this.logs.slice(-20).join('\n')}`,
          ),
        );
      });
    });
    const node: NodeProcess = { id, child, httpUrl, lifecycleLog };
    this.nodes.set(id, node);
    return node;
  }

  async ask(
    node: NodeProcess,
    target: string,
    message: object,
    timeoutMs = 3_000,
  ): Promise<AskResult> {
    try {
      const result = (await httpJson(`${node.httpUrl}/test/ask`, 'POST', {
        target,
        message,
        timeoutMs,
      })) as AskResult;
      // A gateway that is closing answers 503 itself: an HTTP outcome, not a cluster one.
      if (typeof result.ok !== 'boolean') {
        return { ok: false, error: 'HttpError', message: JSON.stringify(result) };
      }
      return result;
    } catch (err) {
      return { ok: false, error: 'HttpError', message: String(err) };
    }
  }

  async state(
    node: NodeProcess,
  ): Promise<{ epoch: number; settled: boolean; members: string[]; active: number }> {
    return (await httpJson(`${node.httpUrl}/test/state`, 'GET')) as {
      epoch: number;
      settled: boolean;
      members: string[];
      active: number;
    };
  }

  /** Which node owns `identity` in `node`'s current placement. */
  async owner(node: NodeProcess, identity: string): Promise<string> {
    const url = `${node.httpUrl}/test/owner?id=${encodeURIComponent(identity)}`;
    return ((await httpJson(url, 'GET')) as { owner: string }).owner;
  }

  async status(node: NodeProcess): Promise<{ actors: number; ingest: Record<string, number> }> {
    return (await httpJson(`${node.httpUrl}/status`, 'GET')) as {
      actors: number;
      ingest: Record<string, number>;
    };
  }

  /** Waits until every running node is settled on the same epoch with exactly `ids` as members. */
  async converged(ids: readonly string[], timeoutMs = 20_000): Promise<number> {
    const want = [...ids].sort().join(',');
    const start = Date.now();
    for (;;) {
      const states = await Promise.all(
        ids.map((id) => this.state(this.nodes.get(id)!).catch(() => undefined)),
      );
      if (
        states.every((s) => s?.settled && s.members.join(',') === want) &&
        new Set(states.map((s) => s?.epoch)).size === 1
      ) {
        return states[0]!.epoch;
      }
      if (Date.now() - start > timeoutMs) {
        throw new Error(`cluster did not converge on ${want}: ${JSON.stringify(states)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(id: string): Promise<number | null> {
    const node = this.nodes.get(id)!;
    node.child.kill('SIGTERM');
    const [code] = await once(node.child, 'exit');
    this.nodes.delete(id);
    return code as number | null;
  }

  kill(id: string): void {
    const node = this.nodes.get(id)!;
    node.killedAt = performance.timeOrigin + performance.now();
    node.child.kill('SIGKILL');
    this.nodes.delete(id);
    this.killed.push(node);
  }

  readonly killed: NodeProcess[] = [];

  /** Reads every node's activation log and fails on any identity active on two nodes at once. */
  checkSingleActivation(all: readonly NodeProcess[]): { activations: number } {
    type Event = { type: string; actor: string; node: string; at: number };
    const intervals = new Map<string, Array<{ node: string; from: number; to: number }>>();
    let activations = 0;
    for (const node of all) {
      let text = '';
      try {
        text = readFileSync(node.lifecycleLog, 'utf8');
      } catch {
        continue;
      }
      const open = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const e = JSON.parse(line) as Event;
        if (e.type === 'activated') {
          open.set(e.actor, e.at);
          activations++;
        } else if (
          (e.type === 'deactivated' || e.type === 'activation-failed') &&
          open.has(e.actor)
        ) {
          const list = intervals.get(e.actor) ?? [];
          list.push({ node: node.id, from: open.get(e.actor)!, to: e.at });
          intervals.set(e.actor, list);
          open.delete(e.actor);
        }
      }
      const end = node.killedAt ?? Number.POSITIVE_INFINITY;
      for (const [actor, from] of open) {
        const list = intervals.get(actor) ?? [];
        list.push({ node: node.id, from, to: end });
        intervals.set(actor, list);
      }
    }
    for (const [actor, list] of intervals) {
      list.sort((a, b) => a.from - b.from);
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!;
        const cur = list[i]!;
        if (cur.from < prev.to && cur.node !== prev.node) {
          throw new Error(
            `${actor} active on ${prev.node} [${prev.from}, ${prev.to}] and ${cur.node} from ${cur.from}`,
          );
        }
      }
    }
    return { activations };
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) node.child.kill('SIGKILL');
    await Promise.all(
      [...this.nodes.values()].map((n) =>
        n.child.exitCode === null ? once(n.child, 'exit') : undefined,
      ),
    );
    this.nodes.clear();
    rmSync(this.dir, { recursive: true, force: true });
    // Killed nodes leave their membership and stats keys behind: leave Redis as we found it.
    const redis = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `{${this.name}}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } catch {
      // Redis restarted or gone (the Redis-restart test stops its own): nothing left to clean.
    } finally {
      redis.disconnect();
    }
  }
}

/** Runs asks against the cluster until stopped, recording each outcome. */
export class Load {
  private running = true;
  /** Adds whose outcome the caller never learned (the HTTP connection died). */
  unknown = 0;
  readonly results: Array<{ target: string; ok: boolean; error?: string }> = [];
  private readonly done: Promise<void>;
  constructor(cluster: ProcessCluster, targets: readonly string[], concurrency = 8) {
    let next = 0;
    const worker = async () => {
      while (this.running) {
        const nodes = [...cluster.nodes.values()];
        if (nodes.length === 0) break;
        const target = targets[next++ % targets.length]!;
        const node = nodes[next % nodes.length]!;
        const r = await cluster.ask(node, target, { type: 'add', by: 1 });
        // A node we just stopped or killed cannot answer over HTTP; that is not a cluster outcome,
        // but the add may have been applied before the connection died.
        if (r.error === 'HttpError') {
          this.unknown++;
          continue;
        }
        this.results.push({
          target,
          ok: r.ok,
          ...(r.error === undefined ? {} : { error: r.error }),
        });
      }
    };
    this.done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => undefined);
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
  get acked(): number {
    return this.results.filter((r) => r.ok).length;
  }
}
