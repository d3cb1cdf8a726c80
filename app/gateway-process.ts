import { AlertStore } from '../db/alerts/alert-store.ts';
import { AuditLog } from '../db/audit/index.ts';
import { createPool, prepareDatabase } from '../db/index.ts';
import { withPlaintextFallback } from '../db/notify/secrets.ts';
import { secretBoxFromEnv } from '../db/secrets/secret-box.ts';
import { InProcessLiveEvents } from '../gateway/live/events.ts';
import { buildGateway } from '../gateway/server.ts';
import { apiDependencies, clusterStatusFromRedis } from './api-wiring.ts';
import { createClusterMember } from './cluster-member.ts';
import { type GitoConfig, requireClusterServices } from './config.ts';
import { type Ingestion, startIngestion } from './ingestion.ts';
import { RedisLiveEvents } from './live-bridge.ts';
import { createObservability, databaseReady } from './observability.ts';

export interface RunningGateway {
  readonly httpUrl: string;
  stop(): Promise<void>;
}

/**
 * `gito gateway`: the HTTP API without actors. It joins the cluster as a member that hosts
 * nothing (placement never picks it), so its requests reach device actors on their owners the
 * way a node's do; it reads history from PostgreSQL, takes HTTP ingest through the same
 * pipeline (storing readings and telling their devices), and streams live events that nodes
 * publish through Redis. Run as many as you like behind a load balancer.
 */
export async function startGateway(config: GitoConfig): Promise<RunningGateway> {
  const { redisUrl, databaseUrl } = requireClusterServices(config);
  const { logger, registry } = createObservability(config);
  const pool = createPool(databaseUrl);
  await prepareDatabase(pool, { log: (m) => logger.info(m) });
  const node = createClusterMember(config, pool, logger, registry, { hostsActors: false });
  const live = new RedisLiveEvents(
    new InProcessLiveEvents((err) => logger.warn({ err: String(err) }, 'live listener failed')),
    redisUrl,
    config.cluster.name,
    config.nodeId,
    logger,
  );
  const auditLog = new AuditLog(pool, {
    onRetry: (err, attempt) => logger.warn({ err: String(err), attempt }, 'audit write retried'),
  });
  let ingestion: Ingestion | undefined;
  const gateway = await buildGateway({
    logger: logger.child({ component: 'gateway' }),
    registry,
    nodeId: config.nodeId,
    readiness: {
      database: databaseReady(pool),
      cluster: async () => {
        if (!node.settled) throw new Error('not a cluster member yet');
        if (!node.topology().members.some((m) => m.hosts !== false)) {
          throw new Error('no node hosting actors is up');
        }
      },
    },
    status: () => ({ gateway: config.nodeId, epoch: node.currentEpoch, settled: node.settled }),
    api: apiDependencies({
      config,
      pool,
      actors: node.system,
      services: {
        live,
        auditLog,
        alerting: {
          alerts: new AlertStore(pool),
          databaseUrl,
          // Nodes follow rule changes through PostgreSQL NOTIFY; nothing to refresh here.
          refreshRules: async () => {},
        },
        // The same key as the nodes' (GITO_SECRET_KEY), so both read what the other sealed.
        notifications: {
          sealer: withPlaintextFallback(
            secretBoxFromEnv(process.env, { warn: (m) => logger.warn(m) }),
          ),
        },
      },
      registry,
      ingestion: () => ingestion,
      clusterStatus: clusterStatusFromRedis(redisUrl, config.cluster.name),
    }),
  });
  await node.start();
  ingestion = await startIngestion({
    system: node.system,
    pool,
    registry,
    logger: logger.child({ component: 'ingest' }),
    config: config.ingest,
    // HTTP ingest only: MQTT is read by the nodes' shared subscription.
    mqttUrl: undefined,
    clientId: `gito-gateway-${config.nodeId}`,
    shareGroup: undefined,
  });
  const httpUrl = await gateway.listen({ host: config.httpHost, port: config.httpPort });
  logger.info({ httpUrl, epoch: node.currentEpoch }, 'gito gateway started');

  let stopping: Promise<void> | undefined;
  return {
    httpUrl,
    stop: () => {
      stopping ??= (async () => {
        await gateway.close();
        await ingestion?.stop();
        await node.leave();
        await auditLog.flush();
        await live.close();
        await pool.end();
        logger.info('gito gateway stopped');
        logger.flush();
      })();
      return stopping;
    },
  };
}
