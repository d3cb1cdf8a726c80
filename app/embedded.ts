import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import {
  createPool,
  PostgresDeadLetterSink,
  PostgresReminderStore,
  PostgresStateStore,
  prepareDatabase,
} from '../db/index.ts';
import { bootstrapKey } from '../gateway/bootstrap.ts';
import { buildGateway } from '../gateway/server.ts';
import { ActorSystem } from '../runtime/index.ts';
import { alertingAccess, apiDependencies, singleNodeStatus } from './api-wiring.ts';
import type { GitoConfig } from './config.ts';
import { startEmbeddedBroker } from './embedded-broker.ts';
import { startDeviceWaker, startIngestion } from './ingestion.ts';
import { startNodeServices } from './node-services.ts';
import { createObservability, databaseReady } from './observability.ts';

export interface RunningNode {
  readonly url: string;
  readonly mqttUrl: string;
  readonly system: ActorSystem;
  /** Graceful stop: stop taking requests and telemetry, store what was accepted, save actors. */
  stop(): Promise<void>;
}

/** Tenant created on first start so that `npm run simulate` works out of the box. */
export const DEMO_TENANT = 'demo';

/**
 * The embedded default: one process with one node, the gateway, an in-process MQTT broker and an
 * embedded PostgreSQL (PGlite over the wire protocol, data under GITO_DATA_DIR). Setting
 * GITO_DATABASE_URL or GITO_MQTT_URL swaps either for an external one.
 */
export async function startEmbedded(config: GitoConfig): Promise<RunningNode> {
  const { logger, registry } = createObservability(config);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      await stop().catch((err: unknown) => logger.warn({ err: String(err) }, 'stop step failed'));
    }
  };

  try {
    let databaseUrl = config.cluster.databaseUrl;
    if (databaseUrl === undefined) {
      const pg = await startEmbeddedPostgres({
        dataDir: join(config.dataDir, 'pg'),
        log: (m) => logger.info(m),
      });
      stops.push(() => pg.stop());
      databaseUrl = pg.url;
      logger.info(
        { dataDir: join(config.dataDir, 'pg'), startupMs: pg.startupMs },
        'embedded PostgreSQL ready',
      );
    }
    const pool = createPool(databaseUrl);
    stops.push(() => pool.end());
    await prepareDatabase(pool, { log: (m) => logger.info(m) });
    await ensureDemoTenant(pool, logger, config.dataDir);

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
    const services = await startNodeServices({
      system,
      pool,
      registry,
      logger,
      config,
      env: withLocalSecretKey(process.env, config.dataDir, logger),
    });
    stops.push(() => services.stop());
    stops.push(() => system.shutdown());

    let mqttUrl = config.ingest.mqttUrl;
    if (mqttUrl === undefined) {
      const broker = await startEmbeddedBroker({
        host: config.httpHost,
        port: config.ingest.mqttPort,
        logger: logger.child({ component: 'broker' }),
        fallbackToFreePort:
          process.env.GITO_MQTT_PORT === undefined || process.env.GITO_MQTT_PORT === '',
      });
      stops.push(() => broker.stop());
      mqttUrl = broker.url;
    }
    const ingestion = await startIngestion({
      system,
      pool,
      registry,
      logger: logger.child({ component: 'ingest' }),
      config: config.ingest,
      mqttUrl,
      clientId: `gito-${config.nodeId}`,
      // One consumer here; aedes does not implement shared subscriptions anyway.
      shareGroup: undefined,
    });
    stops.push(() => ingestion.stop());
    const waker = startDeviceWaker({ system, pool, logger, owns: () => true });
    stops.push(async () => waker.stop());
    void waker.runNow();
    services.run();

    let last = '';
    const statusTimer = setInterval(() => {
      const line = JSON.stringify(ingestion.stats());
      if (line === last) return;
      last = line;
      logger.info({ ingest: ingestion.stats(), actors: system.activeCount }, 'telemetry flowing');
    }, 10_000);
    statusTimer.unref();

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
      status: () => ({
        node: config.nodeId,
        actors: system.activeCount,
        ingest: ingestion.stats(),
        mqtt: mqttUrl,
      }),
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
    stops.push(() => gateway.close());
    logger.info({ url, mqtt: mqttUrl, pid: process.pid }, 'gito started (embedded default)');

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        logger.info('gito stopping');
        clearInterval(statusTimer);
        await stopAll();
        logger.info({ passivated: system.activeCount === 0 }, 'gito stopped');
        logger.flush();
      })();
      return stopping;
    };
    return { url, mqttUrl, system, stop };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The embedded default keeps its secret key beside its data when GITO_SECRET_KEY is not set
 * (created once, readable by this user only), so stored channel secrets survive restarts
 * without any setup. Clusters set GITO_SECRET_KEY, the same on every process.
 */
function withLocalSecretKey(env: NodeJS.ProcessEnv, dataDir: string, logger: Logger) {
  if (env.GITO_SECRET_KEY !== undefined && env.GITO_SECRET_KEY !== '') return env;
  const file = join(dataDir, 'secret-key');
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    logger.info({ file }, 'created the secret key for stored secrets');
  }
  return { ...env, GITO_SECRET_KEY: readFileSync(file, 'utf8').trim() };
}

/**
 * The demo tenant, and on its first start an admin API key printed once (only its hash is
 * stored): the embedded default is usable through the API without another command.
 */
async function ensureDemoTenant(pool: Pool, logger: Logger, dataDir: string): Promise<void> {
  const { rowCount } = await pool.query(
    `INSERT INTO tenants (id, name, auto_provision_devices) VALUES ($1, 'Demo', true)
     ON CONFLICT (id) DO NOTHING`,
    [DEMO_TENANT],
  );
  if (rowCount !== 1) return;
  const { key } = await bootstrapKey(pool, DEMO_TENANT, { role: 'admin', name: 'demo admin' });
  // Secrets never go to the logs: the key is written once to a file only this user can read.
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'demo-admin-key');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  logger.warn(
    { tenant: DEMO_TENANT, file },
    'created the demo tenant and its admin API key (in this file, readable by you only; use it ' +
      'as "Authorization: Bearer <key>"; API docs at /docs)',
  );
}
