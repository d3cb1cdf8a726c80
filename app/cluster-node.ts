import { appendFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { ClusterNode } from '../cluster/node.ts';
import { createPool, prepareDatabase } from '../db/index.ts';
import { InProcessLiveEvents } from '../gateway/live/events.ts';
import { buildGateway, type Gateway } from '../gateway/server.ts';
import type { ActorSystem } from '../runtime/index.ts';
import { alertingAccess, apiDependencies, clusterStatusFromRedis } from './api-wiring.ts';
import { createClusterMember } from './cluster-member.ts';
import { type NodeStats, nodeStatsKey } from './cluster-status.ts';
import { type GitoConfig, requireClusterServices } from './config.ts';
import { type Ingestion, startDeviceWaker, startIngestion } from './ingestion.ts';
import { RedisLiveEvents } from './live-bridge.ts';
import { startNodeServices } from './node-services.ts';
import { createObservability, databaseReady } from './observability.ts';

export interface ClusterNodeExtensions {
  /** Register actor kinds beyond the built-in ones (tests, plugins). */
  register?(system: ActorSystem): void;
  /** Add HTTP routes before the gateway listens. */
  routes?(app: Gateway, node: ClusterNode): void;
  /** URL prefixes of those routes that are unauthenticated (test fixtures, benchmarks). */
  readonly publicPrefixes?: readonly string[];
}

export interface RunningClusterNode {
  readonly node: ClusterNode;
  readonly httpUrl: string;
  readonly grpcAddress: string;
  /** Planned leave: hand everything off, then close. Idempotent. */
  stop(): Promise<void>;
}

/** `gito node`: one cluster member with its gateway, against shared Redis and PostgreSQL. */
export async function startClusterNode(
  config: GitoConfig,
  extensions: ClusterNodeExtensions = {},
): Promise<RunningClusterNode> {
  const { redisUrl, databaseUrl } = requireClusterServices(config);
  const { logger, registry } = createObservability(config);

  const pool = createPool(databaseUrl);
  await prepareDatabase(pool, { log: (m) => logger.info(m) });

  const cluster = config.cluster;
  const node = createClusterMember(config, pool, logger, registry, { hostsActors: true });
  const live = new RedisLiveEvents(
    new InProcessLiveEvents((err) => logger.warn({ err: String(err) }, 'live listener failed')),
    redisUrl,
    cluster.name,
    config.nodeId,
    logger,
  );
  const services = await startNodeServices({
    system: node.system,
    pool,
    registry,
    logger,
    config,
    live,
  });
  extensions.register?.(node.system);
  if (cluster.lifecycleLog !== undefined) {
    const file = cluster.lifecycleLog;
    // Synchronous appends: the log must survive a kill -9 right after an activation.
    node.system.onLifecycle((e) => appendFileSync(file, `${JSON.stringify(e)}\n`));
  }

  // Everything is built before the node joins: work done right after joining would delay the
  // handoff the other members wait for. /readyz answers 503 until the node is settled.
  let ingestion: Ingestion | undefined;
  const gateway = await buildGateway({
    logger: logger.child({ component: 'gateway' }),
    registry,
    nodeId: config.nodeId,
    readiness: {
      database: databaseReady(pool),
      cluster: async () => {
        if (!node.settled) throw new Error('cluster handoff in progress or not a member');
      },
    },
    status: () => ({
      node: config.nodeId,
      epoch: node.currentEpoch,
      settled: node.settled,
      actors: node.system.activeCount,
      ...(ingestion === undefined ? {} : { ingest: ingestion.stats() }),
    }),
    api: apiDependencies({
      config,
      pool,
      // Asks go through the node's system, which routes each to the identity's owner.
      actors: node.system,
      services: { ...services, alerting: alertingAccess(services, databaseUrl) },
      registry,
      ingestion: () => ingestion,
      clusterStatus: clusterStatusFromRedis(redisUrl, cluster.name),
    }),
    ...(extensions.publicPrefixes === undefined
      ? {}
      : { extraPublicPrefixes: extensions.publicPrefixes }),
  });
  extensions.routes?.(gateway, node);
  const httpUrl = await gateway.listen({ host: config.httpHost, port: config.httpPort });
  const { address } = await node.start();
  services.run();

  // Telemetry: every node subscribes with a shared subscription, so the broker splits the stream;
  // each reading is stored by the node that received it and routed to its device's owner.
  const mqttUrl = config.ingest.mqttUrl;
  ingestion =
    mqttUrl === undefined
      ? undefined
      : await startIngestion({
          system: node.system,
          pool,
          registry,
          logger: logger.child({ component: 'ingest' }),
          config: config.ingest,
          mqttUrl,
          clientId: `gito-${cluster.name}-${config.nodeId}`,
          shareGroup:
            config.ingest.mqttShareGroup === '' ? undefined : config.ingest.mqttShareGroup,
        });
  if (ingestion === undefined)
    logger.warn('GITO_MQTT_URL is not set: this node ingests no MQTT telemetry');

  // Wake the devices this node owns that were last seen online, once it hosts and every 5 min
  // (covers restarts and identities that moved here while silent).
  const waker = startDeviceWaker({
    system: node.system,
    pool,
    logger,
    owns: (id) => node.settled && node.ownerOf(id) === config.nodeId,
  });
  const wakeWhenSettled = setInterval(() => {
    if (!node.settled) return;
    clearInterval(wakeWhenSettled);
    void waker.runNow();
  }, 200);
  wakeWhenSettled.unref();

  const statsRedis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  statsRedis.on('error', () => undefined);
  await statsRedis.connect().catch(() => undefined);
  const publishStats = () => {
    const byKind: Record<string, number> = {};
    for (const s of node.system.kindStats()) byKind[s.kind] = s.active;
    const stats: NodeStats = {
      node: config.nodeId,
      address,
      epoch: node.currentEpoch,
      settled: node.settled,
      actors: node.system.activeCount,
      byKind,
      at: Date.now(),
    };
    statsRedis
      .set(
        nodeStatsKey(cluster.name, config.nodeId),
        JSON.stringify(stats),
        'PX',
        cluster.heartbeatIntervalMs * 5,
      )
      .catch(() => undefined);
  };
  const statsTimer = setInterval(publishStats, cluster.heartbeatIntervalMs);
  statsTimer.unref();
  publishStats();

  logger.info({ httpUrl, grpc: address, epoch: node.currentEpoch }, 'gito node started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('gito node leaving the cluster');
      clearInterval(statsTimer);
      clearInterval(wakeWhenSettled);
      waker.stop();
      await gateway.close();
      await ingestion?.stop();
      await node.leave();
      await services.stop();
      await live.close();
      await statsRedis.del(nodeStatsKey(cluster.name, config.nodeId)).catch(() => undefined);
      statsRedis.disconnect();
      await pool.end();
      logger.info('gito node stopped');
      logger.flush();
    })();
    return stopping;
  };
  return { node, httpUrl, grpcAddress: address, stop };
}
