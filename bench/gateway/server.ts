/**
 * The gateway under load, in its own process (started by bench/gateway/run.ts): what
 * app/embedded.ts builds, minus MQTT and the embedded database. A real ActorSystem with the
 * PostgreSQL state, reminder and dead-letter stores; the node services (device actors with their
 * status writer, alerting, notifications, audit log, live events); the HTTP ingest path through
 * the real IngestPipeline and TelemetryWriter (as app/ingestion.ts builds them, without the MQTT
 * source); and buildGateway with apiDependencies, as every node serves it.
 *
 * Settings are the production defaults (app/config.ts) except: the per-key API rate limit is
 * raised (the load comes from one key, far above the default 6,000 requests per minute), and
 * the log level comes from GATEWAY_BENCH_LOG_LEVEL (run.ts sets it; default here 'warn').
 *
 * Environment: BENCH_DATABASE_URL (required). IPC requests: `stats`, `settle` (waits until every
 * accepted reading is stored), `profile-start` and `profile-stop {file}` (a .cpuprofile of the
 * window between them), `exit`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import { BadInputCounter, registerIngestMetrics } from '../../actors/ingest/bad-input.ts';
import { IngestPipeline } from '../../actors/ingest/pipeline.ts';
import { KeyedRateLimiter } from '../../actors/ingest/rate-limit.ts';
import { DEFAULT_LIMITS } from '../../actors/ingest/types.ts';
import { alertingAccess, apiDependencies, singleNodeStatus } from '../../app/api-wiring.ts';
import { loadConfig } from '../../app/config.ts';
import type { Ingestion } from '../../app/ingestion.ts';
import { startNodeServices } from '../../app/node-services.ts';
import { createObservability, databaseReady } from '../../app/observability.ts';
import { DeviceDirectory } from '../../db/devices/directory.ts';
import {
  createPool,
  PostgresDeadLetterSink,
  PostgresReminderStore,
  PostgresStateStore,
} from '../../db/index.ts';
import { registerTelemetryMetrics } from '../../db/telemetry/metrics.ts';
import { TelemetryWriter } from '../../db/telemetry/writer.ts';
import { buildGateway } from '../../gateway/server.ts';
import { ActorSystem, type Logger } from '../../runtime/index.ts';
import { type RpcRequest, serveParent } from './lib.ts';

/** Requests per minute per key: far above what one run sends, so no request is refused. */
export const BENCH_API_RATE_LIMIT = 10_000_000;

const databaseUrl = process.env.BENCH_DATABASE_URL;
if (databaseUrl === undefined || databaseUrl === '')
  throw new Error('BENCH_DATABASE_URL is not set');

const config = loadConfig({
  GITO_NODE_ID: 'bench-gateway',
  GITO_DATABASE_URL: databaseUrl,
  GITO_HTTP_HOST: '127.0.0.1',
  GITO_HTTP_PORT: '0',
  GITO_LOG_LEVEL: process.env.GATEWAY_BENCH_LOG_LEVEL ?? 'warn',
  GITO_TOKEN_SECRET: 'bench-gateway-token-secret-0123456789abcdef',
  GITO_API_RATE_LIMIT: String(BENCH_API_RATE_LIMIT),
});

/** HTTP-only ingestion: app/ingestion.ts startIngestion without the MQTT source. */
function httpIngestion(
  system: ActorSystem,
  pool: Pool,
  logger: Logger,
  registry: Registry,
): Ingestion & { readonly inFlight: () => number } {
  const counter = new BadInputCounter();
  registerIngestMetrics(registry, counter);
  const writer = new TelemetryWriter(pool, { maxDelayMs: config.ingest.flushMs });
  registerTelemetryMetrics(registry, writer);
  const pipeline = new IngestPipeline({
    directory: new DeviceDirectory(pool),
    rows: writer,
    deliver: (target, message) => system.tell(target, message),
    counter,
    logger,
    rateLimiter: new KeyedRateLimiter({
      ratePerSecond: config.ingest.deviceRatePerSecond,
      burst: config.ingest.deviceRateBurst,
    }),
    limits: { ...DEFAULT_LIMITS, maxPayloadBytes: config.ingest.maxPayloadBytes },
  });
  const stats = () => ({
    accepted: counter.accepted,
    rejected: counter.rejected,
    throttled: counter.throttled,
    rowsWritten: writer.stats.rowsWritten,
    buffered: writer.buffered,
  });
  return {
    pipeline,
    counter,
    writer,
    stats,
    inFlight: () => pipeline.inFlight,
    stop: () => writer.close(),
  };
}

const { logger, registry } = createObservability(config);
const pool = createPool(databaseUrl);
const system = new ActorSystem({
  nodeId: config.nodeId,
  logger: logger.child({ component: 'runtime' }),
  registry,
  stateStore: new PostgresStateStore(pool),
  reminderStore: new PostgresReminderStore(pool),
  deadLetters: new PostgresDeadLetterSink(pool),
  idleTimeoutMs: config.actorIdleTimeoutMs,
  defaultAskTimeoutMs: config.askTimeoutMs,
  mailboxCapacity: config.mailboxCapacity,
});
const services = await startNodeServices({ system, pool, registry, logger, config });
const ingestion = httpIngestion(system, pool, logger.child({ component: 'ingest' }), registry);
services.run();

const gateway = await buildGateway({
  logger: logger.child({ component: 'gateway' }),
  registry,
  nodeId: config.nodeId,
  readiness: {
    database: databaseReady(pool),
    runtime: async () => {
      if (system.stopping) throw new Error('actor system is shutting down');
    },
  },
  status: () => ({ node: config.nodeId, actors: system.activeCount, ingest: ingestion.stats() }),
  api: apiDependencies({
    config,
    pool,
    actors: system,
    services: { ...services, alerting: alertingAccess(services, databaseUrl) },
    registry,
    ingestion: () => ingestion,
    clusterStatus: singleNodeStatus(config.nodeId, system),
  }),
});
const url = await gateway.listen({ host: config.httpHost, port: config.httpPort });

function stats() {
  const m = process.memoryUsage();
  return {
    ...ingestion.stats(),
    inFlight: ingestion.inFlight(),
    actors: system.activeCount,
    rssMB: Math.round(m.rss / 2 ** 20),
    heapUsedMB: Math.round(m.heapUsed / 2 ** 20),
  };
}

/** Resolves once no reading is buffered or in flight for 100 ms (or after 30 s). */
async function settle() {
  const deadline = Date.now() + 30_000;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    if (ingestion.writer.buffered > 0 || ingestion.inFlight() > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= 100) break;
  }
  return stats();
}

/** V8's sampling CPU profiler (what node --cpu-prof runs), over a window the parent chooses. */
let profiler: Session | undefined;
async function startProfile(): Promise<void> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
  await profiler.post('Profiler.start');
}
async function stopProfile(file: string): Promise<string> {
  if (profiler === undefined) throw new Error('no profile running');
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = undefined;
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

serveParent(
  { url, pid: process.pid, logLevel: config.logLevel, rateLimitPerMinute: BENCH_API_RATE_LIMIT },
  async (request: RpcRequest) => {
    if (request.type === 'stats') return stats();
    if (request.type === 'settle') return settle();
    if (request.type === 'profile-start') return startProfile();
    if (request.type === 'profile-stop') return stopProfile(String(request.file));
    throw new Error(`unknown request ${request.type}`);
  },
  async () => {
    await gateway.close();
    await ingestion.stop();
    await services.stop();
    await system.shutdown();
    await pool.end();
    logger.flush();
  },
);
