import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import { DEFAULT_LIMITS } from '../actors/ingest/types.ts';
import { installAudit } from '../gateway/audit/plugin.ts';
import { auditResource } from '../gateway/audit/routes.ts';
import type { ActorAccess, ApiDependencies, ClusterStatusReport } from '../gateway/deps.ts';
import { gdprResource } from '../gateway/gdpr/routes.ts';
import { liveResource } from '../gateway/live/stream.ts';
import type { AlertingAccess } from '../gateway/routes/alerting-access.ts';
import type { ActorSystem } from '../runtime/index.ts';
import { readClusterStatus } from './cluster-status.ts';
import type { GitoConfig } from './config.ts';
import type { Ingestion } from './ingestion.ts';
import type { NodeServices } from './node-services.ts';
import type { Notifications } from './notifications.ts';

/**
 * The API's dependencies as a process provides them (the embedded default, `gito node` and
 * `gito gateway` differ in how they reach actors, the alerting core and the cluster status).
 */
export function apiDependencies(setup: {
  readonly config: GitoConfig;
  readonly pool: Pool;
  readonly actors: ActorAccess;
  /** What the API reaches of the domain: a node's services, or a gateway's lighter set. */
  readonly services: Pick<NodeServices, 'live' | 'auditLog'> & {
    readonly alerting: AlertingAccess;
    /** The sealer of contact point secrets; without it those routes answer 503. */
    readonly notifications?: Pick<Notifications, 'sealer'>;
  };
  readonly registry: Registry;
  /** Ingestion may start after the gateway: read at each request. */
  readonly ingestion: () => Ingestion | undefined;
  readonly clusterStatus: () => Promise<ClusterStatusReport>;
}): ApiDependencies {
  const { config, services, registry } = setup;
  return {
    pool: setup.pool,
    actors: setup.actors,
    tokenSecret: config.gateway.tokenSecret,
    rateLimit: { max: config.gateway.rateLimitPerMinute, timeWindowMs: 60_000 },
    ingest: () => {
      const ingestion = setup.ingestion();
      return ingestion === undefined
        ? undefined
        : {
            pipeline: ingestion.pipeline,
            counter: ingestion.counter,
            limits: { ...DEFAULT_LIMITS, maxPayloadBytes: config.ingest.maxPayloadBytes },
          };
    },
    ingestMaxPayloadBytes: config.ingest.maxPayloadBytes,
    clusterStatus: setup.clusterStatus,
    alerting: services.alerting,
    ...(services.notifications === undefined
      ? {}
      : { notify: { sealer: services.notifications.sealer } }),
    resources: [auditResource, gdprResource(), liveResource({ events: services.live, registry })],
    // Every mutation, successful or refused, is audited (docs/audit-and-gdpr.md).
    install: (app) => installAudit(app, { log: services.auditLog, registry }),
  };
}

/** The alerting routes' view of a node's alerting core (rules apply at once on this node). */
export function alertingAccess(services: NodeServices, databaseUrl: string): AlertingAccess {
  const alerting = services.alerting;
  return {
    alerts: alerting.alerts,
    databaseUrl,
    refreshRules: () => alerting.catalog.refresh(),
    announce: (change) => alerting.announce(change),
  };
}

/** The cluster status the operators' route reports, read from Redis (nodes and gateways). */
export function clusterStatusFromRedis(redisUrl: string, clusterName: string) {
  return async (): Promise<ClusterStatusReport> => {
    const status = await readClusterStatus(redisUrl, clusterName);
    return {
      epoch: status.topology.epoch,
      nodes: status.nodes.map((n) => ({
        id: n.id,
        address: n.address,
        actors: n.stats?.actors ?? null,
        settled: n.stats?.settled ?? null,
        byKind: n.stats?.byKind ?? {},
      })),
    };
  };
}

/** The same for a process that is the whole cluster (the embedded default). */
export function singleNodeStatus(nodeId: string, system: ActorSystem) {
  return async (): Promise<ClusterStatusReport> => ({
    epoch: 0,
    nodes: [
      {
        id: nodeId,
        address: null,
        actors: system.activeCount,
        settled: true,
        byKind: Object.fromEntries([...system.kindStats()].map((k) => [k.kind, k.active])),
      },
    ],
  });
}
