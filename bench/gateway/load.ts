/**
 * The load generator of bench/gateway/run.ts, in its own process so that it shares no event loop
 * with the server it loads: autocannon (its programmatic API, which the CLI wraps) with one
 * request shape per run, the target rotated per request (device ids or keys) and, for ingest,
 * a body whose `ts` is unique per reading. Latencies of 2xx answers are recorded in full
 * (autocannon's own histogram keeps whole milliseconds).
 */
import { createRequire } from 'node:module';
import { type RpcRequest, serveParent } from './lib.ts';

/** The part of autocannon's (untyped) API used here. */
interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
}
interface AutocannonResult {
  readonly duration: number;
  readonly '2xx': number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, bytes: number, ms: number) => void,
  ): void;
}
type Autocannon = (
  options: {
    url: string;
    connections: number;
    pipelining: number;
    duration: number;
    headers: Record<string, string>;
    requests: Array<{ setupRequest: (req: RequestSpec) => RequestSpec }>;
  },
  done: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const require = createRequire(import.meta.url);
// autocannon ships CommonJS without type declarations: typed by the interfaces above.
const autocannon = require('autocannon') as Autocannon;

export interface LoadOrder {
  readonly origin: string;
  readonly method: 'GET' | 'POST';
  /** `{t}` in it is replaced by the next target (round-robin over `targets`). */
  readonly pathTemplate: string;
  readonly targets: readonly string[];
  readonly headers: Record<string, string>;
  /** POST: a telemetry reading with ts = tsBase + sequence number (unique per request). */
  readonly ingestBody?: { readonly tsBase: number; readonly seqStart: number };
  readonly connections: number;
  readonly pipelining: number;
  readonly durationSec: number;
}

export interface LoadResult {
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodes: Record<string, number>;
  readonly durationSec: number;
  /** 2xx answers per second. */
  readonly rate: number;
  /** Latency of every 2xx answer, ms, ascending. */
  readonly latenciesMs: Float64Array;
  /** Next unused sequence number (ingest). */
  readonly seqEnd: number;
}

function run(order: LoadOrder): Promise<LoadResult> {
  let seq = order.ingestBody?.seqStart ?? 0;
  let turn = 0;
  const targets = order.targets;
  const [before, after] = order.pathTemplate.split('{t}') as [string, string | undefined];
  const setupRequest = (req: RequestSpec): RequestSpec => {
    const target = targets[turn++ % targets.length]!;
    const path = after === undefined ? before : `${before}${encodeURIComponent(target)}${after}`;
    if (order.ingestBody === undefined) return { ...req, method: order.method, path };
    const i = seq++;
    const body = JSON.stringify({
      temperature: 20 + (i % 100) / 10,
      humidity: 40 + (i % 20),
      battery: 90 - (i % 10),
      ts: order.ingestBody.tsBase + i,
    });
    return { ...req, method: order.method, path, body };
  };
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: order.origin,
        connections: order.connections,
        pipelining: order.pipelining,
        duration: order.durationSec,
        headers: order.headers,
        requests: [{ setupRequest }],
      },
      (err, result) => {
        if (err !== null) {
          reject(err);
          return;
        }
        const sorted = latencies.slice(0, n).sort();
        resolve({
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes: Object.fromEntries(
            Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
          ),
          durationSec: result.duration,
          rate: result['2xx'] / result.duration,
          latenciesMs: sorted,
          seqEnd: seq,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode < 200 || statusCode >= 300) return;
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
  });
}

serveParent(
  { pid: process.pid },
  async (request: RpcRequest) => {
    if (request.type === 'run') return run(request.order as LoadOrder);
    throw new Error(`unknown request ${request.type}`);
  },
  async () => {},
);
