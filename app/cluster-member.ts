import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { RedisMembership } from '../cluster/membership/redis.ts';
import { ClusterNode } from '../cluster/node.ts';
import { Transport } from '../cluster/transport/index.ts';
import { PostgresDeadLetterSink, PostgresReminderStore, PostgresStateStore } from '../db/index.ts';
import { type GitoConfig, requireClusterServices } from './config.ts';

/**
 * A cluster member of this process: Redis membership, the gRPC transport (TLS when configured)
 * and an actor system with PostgreSQL stores. A `gito node` hosts actors; a `gito gateway`
 * (hostsActors false) joins only to route requests to the members that host them.
 */
export function createClusterMember(
  config: GitoConfig,
  pool: Pool,
  logger: Logger,
  registry: Registry,
  options: { readonly hostsActors: boolean },
): ClusterNode {
  const { redisUrl } = requireClusterServices(config);
  const cluster = config.cluster;
  const tls =
    cluster.tls === undefined
      ? undefined
      : {
          cert: readFileSync(cluster.tls.certFile),
          key: readFileSync(cluster.tls.keyFile),
          ca: readFileSync(cluster.tls.caFile),
          mutual: cluster.tls.mutual,
        };
  const membership = new RedisMembership({
    redisUrl,
    clusterName: cluster.name,
    heartbeatIntervalMs: cluster.heartbeatIntervalMs,
    missedHeartbeats: cluster.missedHeartbeats,
    logger: logger.child({ component: 'membership' }),
  });
  const incarnation = Date.now();
  let epochOf: () => number = () => 0;
  const node = new ClusterNode({
    nodeId: config.nodeId,
    hostsActors: options.hostsActors,
    incarnation,
    advertiseAddress: cluster.grpcAdvertise,
    membership,
    transport: (handler) =>
      new Transport(
        {
          nodeId: config.nodeId,
          incarnation,
          listen: cluster.grpcListen,
          tls,
          epoch: () => epochOf(),
        },
        handler,
        logger.child({ component: 'transport' }),
      ),
    system: {
      stateStore: new PostgresStateStore(pool),
      reminderStore: new PostgresReminderStore(pool),
      deadLetters: new PostgresDeadLetterSink(pool),
      idleTimeoutMs: config.actorIdleTimeoutMs,
      defaultAskTimeoutMs: config.askTimeoutMs,
      mailboxCapacity: config.mailboxCapacity,
    },
    logger: logger.child({ component: 'cluster' }),
    registry,
  });
  epochOf = () => node.currentEpoch;
  return node;
}
