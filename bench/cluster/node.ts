/**
 * A real `gito node` process (app/cluster-node.ts: Redis membership, gRPC transport, PostgreSQL
 * stores) with three benchmark actor kinds and a few `/bench/*` routes, started by
 * bench/cluster/run.ts. Everything between the routes and the wire is production code.
 *
 * Kinds:
 * - `sink` (not persistent): counts the tells it handles in a process-wide counter, so the
 *   orchestrator can see when the last tell of a blast was processed here.
 * - `echo` (not persistent): answers `ping` with 1 (remote ask latency).
 * - `item` (persistent, state `{n}`): `touch` increments n, `get` answers it (rebalance).
 *
 * The routes run their loops inside this process, so HTTP is not part of any timed figure.
 * They are registered with logLevel 'warn' so that polling them does not log every request.
 */
import { hostname } from 'node:os';
import { startClusterNode } from '../../app/cluster-node.ts';
import { loadConfig } from '../../app/config.ts';
import type { ClusterNode } from '../../cluster/node.ts';
import { PeerBackpressureError, type TransportStats } from '../../cluster/transport/index.ts';
import { defineActor, MailboxFullError } from '../../runtime/index.ts';

// ---- actor kinds -------------------------------------------------------------------------------

let sinkCount = 0;
let sinkExpect = Number.POSITIVE_INFINITY;
let sinkDoneAt = 0;

const wallNow = (): number => performance.timeOrigin + performance.now();

type SinkMsg = { type: 'telemetry'; metric: string; value: number } | { type: 'get' };
const sink = defineActor<null, SinkMsg>()({
  kind: 'sink',
  persistent: false,
  initialState: () => null,
  handlers: {
    telemetry: () => {
      if (++sinkCount === sinkExpect) sinkDoneAt = wallNow();
    },
    get: () => sinkCount,
  },
});

const echo = defineActor<null, { type: 'ping' }>()({
  kind: 'echo',
  persistent: false,
  initialState: () => null,
  handlers: { ping: () => 1 },
});

type ItemMsg = { type: 'touch' } | { type: 'get' };
const item = defineActor<{ n: number }, ItemMsg>()({
  kind: 'item',
  initialState: () => ({ n: 0 }),
  handlers: {
    touch: (ctx) => {
      ctx.state.n++;
    },
    get: (ctx) => ctx.state.n,
  },
});

// ---- helpers -----------------------------------------------------------------------------------

const yieldNow = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The first `count` keys `sink/acme:pump-<i>` (or another kind) owned by `owner` right now. */
function keysOwnedBy(node: ClusterNode, kind: string, owner: string, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count && i < count * 1000; i++) {
    const id = `${kind}/acme:pump-${i}`;
    if (node.ownerOf(id) === owner) out.push(id);
  }
  if (out.length < count) throw new Error(`found only ${out.length} ${kind} keys on ${owner}`);
  return out;
}

/**
 * Tells `message(i)` to `target(i)` for i in [0, n), `chunk` at a time with a setImmediate
 * between chunks; when the transport or a mailbox refuses, waits 1 ms and retries from there.
 */
async function tellLoop(
  node: ClusterNode,
  n: number,
  chunk: number,
  target: (i: number) => string,
  message: (i: number) => { type: string },
): Promise<{ sent: number; waits: number }> {
  const system = node.system;
  let i = 0;
  let waits = 0;
  while (i < n) {
    const end = Math.min(n, i + chunk);
    try {
      for (; i < end; i++) system.tell(target(i), message(i));
    } catch (err) {
      // The peer's transport queue (100,000 envelopes) or a mailbox is full: wait, retry i.
      if (!(err instanceof PeerBackpressureError) && !(err instanceof MailboxFullError)) throw err;
      waits++;
      await sleep(1);
      continue;
    }
    await yieldNow();
  }
  return { sent: i, waits };
}

function percentiles(samples: Float64Array): Record<string, number> {
  samples.sort();
  const at = (p: number) =>
    samples[Math.min(samples.length - 1, Math.max(0, Math.ceil((p / 100) * samples.length) - 1))]!;
  let sum = 0;
  for (const s of samples) sum += s;
  return {
    n: samples.length,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: samples[samples.length - 1] ?? Number.NaN,
    mean: sum / samples.length,
  };
}

/**
 * The node's transport counters (frames, envelopes, bytes per peer). ClusterNode keeps its
 * transport private and nothing exports these to /metrics yet, so the bench reads the field
 * directly; if it moves, the bench reports no frame figures instead of failing.
 */
function transportStats(node: ClusterNode): TransportStats | undefined {
  const t = (node as unknown as { transport?: { stats?: () => TransportStats } }).transport;
  return typeof t?.stats === 'function' ? t.stats() : undefined;
}

// ---- background pacer (tells at a fixed rate while ask latency is sampled) ---------------------

interface Pacer {
  stop: boolean;
  sent: number;
  /** Tells not sent because the pacer fell more than 50 ms behind its schedule. */
  skipped: number;
  /** Sends refused with PeerBackpressureError or MailboxFullError (retried 1 ms later). */
  refused: number;
  startedAt: number;
  /** Envelopes waiting in the transport queue to the target's node, sampled every 10 ms. */
  queue: { max: number; sum: number; samples: number };
  done: Promise<void>;
}
let pacer: Pacer | undefined;
/** Most tells the pacer sends per event-loop turn (the blast's chunk size). */
const PACER_CHUNK = 2_000;

/**
 * Tells at `rate` per second: each turn of the event loop sends what the schedule says is due.
 * A pacer that falls more than 50 ms behind (GC pause, CPU taken by another process) skips the
 * backlog instead of bursting it, so the load stays near `rate` rather than saturating the queue.
 */
function startPacer(node: ClusterNode, targets: string[], rate: number): Pacer {
  const system = node.system;
  const p: Pacer = {
    stop: false,
    sent: 0,
    skipped: 0,
    refused: 0,
    startedAt: wallNow(),
    queue: { max: 0, sum: 0, samples: 0 },
    done: Promise.resolve(),
  };
  const owner = node.ownerOf(targets[0]!);
  const sampler = setInterval(() => {
    const queued = transportStats(node)?.outbound[owner]?.queued ?? 0;
    p.queue.max = Math.max(p.queue.max, queued);
    p.queue.sum += queued;
    p.queue.samples++;
  }, 10);
  const maxBehind = Math.ceil(rate * 0.05);
  p.done = (async () => {
    const t0 = performance.now();
    let i = 0;
    try {
      while (!p.stop) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate) - p.skipped;
        if (due - p.sent > maxBehind) p.skipped += due - p.sent - maxBehind;
        let todo = Math.min(PACER_CHUNK, due - p.sent);
        try {
          for (; todo > 0; todo--) {
            system.tell(targets[i % targets.length]!, {
              type: 'telemetry',
              metric: 'temp',
              value: i,
            });
            i++;
            p.sent++;
          }
        } catch (err) {
          if (!(err instanceof PeerBackpressureError) && !(err instanceof MailboxFullError))
            throw err;
          p.refused++;
          await sleep(1);
          continue;
        }
        await yieldNow();
      }
    } finally {
      clearInterval(sampler);
    }
  })();
  return p;
}

/** CPU time of this process so far (all threads, user + system), µs. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

// ---- event-loop stalls (a stalled loop delays heartbeats: see the lease in docs/cluster.md) ---

const STALL_TICK_MS = 10;
const stall = { maxMs: 0, at: 0, over100: 0 };
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - lastTick - STALL_TICK_MS;
  lastTick = now;
  if (late > 100) stall.over100++;
  if (late > stall.maxMs) {
    stall.maxMs = late;
    stall.at = wallNow();
  }
}, STALL_TICK_MS).unref();

// ---- the node ----------------------------------------------------------------------------------

const config = loadConfig(process.env, hostname());
// Benchmark routes are unauthenticated and quiet: they exist only in this benchmark process.
const quiet = { logLevel: 'warn', config: { role: 'public' } } as const;

const running = await startClusterNode(config, {
  publicPrefixes: ['/bench/'],
  register: (system) => {
    system.register(sink);
    system.register(echo);
    system.register(item);
  },
  routes: (app, node) => {
    app.get('/bench/state', quiet, async () => {
      const byKind: Record<string, number> = {};
      for (const s of node.system.kindStats()) byKind[s.kind] = s.active;
      return {
        node: node.nodeId,
        epoch: node.currentEpoch,
        settled: node.settled,
        members: node.topology().members.map((m) => m.id),
        active: node.system.activeCount,
        byKind,
        stats: { ...node.stats },
        sink: { count: sinkCount, doneAt: sinkDoneAt },
        transport: transportStats(node),
        stall: { ...stall },
        cpuUs: cpuUs(),
        at: wallNow(),
      };
    });

    app.post('/bench/stall/reset', quiet, async () => {
      stall.maxMs = 0;
      stall.at = 0;
      stall.over100 = 0;
      return { ok: true };
    });

    /** Resets the sink counter; `doneAt` is stamped when it reaches `n`. */
    app.post<{ Body: { n: number } }>('/bench/expect', quiet, async (req) => {
      sinkCount = 0;
      sinkDoneAt = 0;
      sinkExpect = req.body.n;
      return { ok: true };
    });

    /** n tells to `targets` sinks owned by `owner`, as fast as the transport takes them. */
    app.post<{ Body: { n: number; owner: string; targets: number; chunk: number } }>(
      '/bench/blast',
      quiet,
      async (req) => {
        const { n, owner, targets, chunk } = req.body;
        const ids = keysOwnedBy(node, 'sink', owner, targets);
        const sentBefore = node.stats.remoteSent;
        const cpuBefore = cpuUs();
        const startedAt = wallNow();
        const r = await tellLoop(
          node,
          n,
          chunk,
          (i) => ids[i % ids.length]!,
          (i) => ({ type: 'telemetry', metric: 'temp', value: i }),
        );
        return {
          startedAt,
          sentAt: wallNow(),
          cpuBefore,
          cpuAfter: cpuUs(),
          ...r,
          remoteSent: node.stats.remoteSent - sentBefore,
          sampleTarget: ids[0],
        };
      },
    );

    app.post<{ Body: { rate: number; owner: string; targets: number } }>(
      '/bench/pace/start',
      quiet,
      async (req) => {
        if (pacer !== undefined) throw new Error('a pacer is already running');
        const ids = keysOwnedBy(node, 'sink', req.body.owner, req.body.targets);
        pacer = startPacer(node, ids, req.body.rate);
        return { ok: true };
      },
    );
    app.post('/bench/pace/stop', quiet, async () => {
      const p = pacer;
      if (p === undefined) throw new Error('no pacer running');
      p.stop = true;
      await p.done;
      pacer = undefined;
      const seconds = (wallNow() - p.startedAt) / 1000;
      return {
        sent: p.sent,
        skipped: p.skipped,
        refused: p.refused,
        queueMax: p.queue.max,
        queueMean: p.queue.samples > 0 ? p.queue.sum / p.queue.samples : 0,
        seconds,
        rate: p.sent / seconds,
      };
    });

    /**
     * n sequential asks (after `warmup` more) to one `echo` identity owned by `owner`, or as
     * many as fit in `maxMs` (under load an ask may wait behind a full transport queue).
     */
    app.post<{ Body: { n: number; warmup: number; owner: string; maxMs?: number } }>(
      '/bench/ask-latency',
      quiet,
      async (req) => {
        const { n, warmup, owner } = req.body;
        const maxMs = req.body.maxMs ?? Number.POSITIVE_INFINITY;
        const [target] = keysOwnedBy(node, 'echo', owner, 1);
        const system = node.system;
        const message = { type: 'ping' } as const;
        // An ask the transport refuses (its queue to the peer is full: possible under load) is
        // counted and retried 1 ms later; only answered asks are timed.
        let refused = 0;
        const askOnce = async (): Promise<number> => {
          for (;;) {
            const t0 = performance.now();
            try {
              await system.ask(target!, message);
              return (performance.now() - t0) * 1000;
            } catch (err) {
              if (!(err instanceof PeerBackpressureError)) throw err;
              refused++;
              await sleep(1);
            }
          }
        };
        for (let i = 0; i < warmup; i++) await askOnce();
        refused = 0;
        const samples = new Float64Array(n);
        const t0 = performance.now();
        let done = 0;
        while (done < n && performance.now() - t0 < maxMs) samples[done++] = await askOnce();
        return { target, refused, ...percentiles(samples.subarray(0, done)) };
      },
    );

    /** Tells `touch` to item/k-<i> for i in [from, to): activates them wherever they live. */
    app.post<{ Body: { from: number; to: number; chunk: number } }>(
      '/bench/touch',
      quiet,
      async (req) => {
        const { from, to, chunk } = req.body;
        const t0 = performance.now();
        const r = await tellLoop(
          node,
          to - from,
          chunk,
          (i) => `item/k-${from + i}`,
          () => ({ type: 'touch' }),
        );
        return { ...r, ms: performance.now() - t0 };
      },
    );

    /** Asks `get` of every item/k-<i> in `keys`, `concurrency` at a time; counts outcomes. */
    app.post<{ Body: { keys: number[]; concurrency: number; timeoutMs: number } }>(
      '/bench/ask-items',
      { ...quiet, bodyLimit: 16 * 1024 * 1024 },
      async (req) => {
        const { keys, concurrency, timeoutMs } = req.body;
        const system = node.system;
        let next = 0;
        let ok = 0;
        let zero = 0;
        const errors: Record<string, number> = {};
        const latencies = new Float64Array(keys.length);
        const t0 = performance.now();
        const worker = async () => {
          while (next < keys.length) {
            const k = next++;
            const s = performance.now();
            try {
              const n = await system.ask<number>(
                `item/k-${keys[k]}`,
                { type: 'get' },
                { timeoutMs },
              );
              ok++;
              if (n === 0) zero++;
            } catch (err) {
              const name = err instanceof Error ? err.name : 'Error';
              errors[name] = (errors[name] ?? 0) + 1;
            }
            latencies[k] = (performance.now() - s) * 1000;
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
        const ms = performance.now() - t0;
        return {
          asked: keys.length,
          ok,
          zero,
          errors,
          ms,
          doneAt: wallNow(),
          latency: percentiles(latencies),
        };
      },
    );
  },
});

const onSignal = () => {
  running.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);
// The orchestrator talks to us over a pipe; if it dies without killing us, do not linger.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
