/**
 * What the API needs from the process that hosts it. Small interfaces, so the embedded default,
 * a cluster node and tests can each provide them their own way.
 */

import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import type { BadInputCounter } from '../actors/ingest/bad-input.ts';
import type { IngestPipeline } from '../actors/ingest/pipeline.ts';
import type { IngestLimits } from '../actors/ingest/types.ts';
import type { ActorId, AskOptions, Message } from '../runtime/index.ts';
import type { AlertingAccess } from './routes/alerting-access.ts';
import type { ApiContext, ApiResource } from './routes/context.ts';
import type { NotifyAccess } from './routes/notify-access.ts';

/** How the gateway reaches actors: an ActorSystem, or a ClusterNode's system (routes by owner). */
export interface ActorAccess {
  ask<R = unknown>(target: ActorId, message: Message, options?: AskOptions): Promise<R>;
}

/** HTTP ingest runs through the same pipeline (validation, limits, storage) as MQTT. */
export interface HttpIngest {
  readonly pipeline: Pick<IngestPipeline, 'handleReading'>;
  readonly limits: IngestLimits;
  /** Counts refusals found while parsing (before the pipeline), like the MQTT path does. */
  readonly counter: Pick<BadInputCounter, 'reject'>;
}

/** Cluster status for operators: members, epoch, actors per node and kind. */
export interface ClusterStatusReport {
  readonly epoch: number;
  readonly nodes: ReadonlyArray<{
    readonly id: string;
    readonly address: string | null;
    /** Null when the node has not published its stats (just joined, or unreachable). */
    readonly actors: number | null;
    readonly settled: boolean | null;
    readonly byKind: Readonly<Record<string, number>>;
  }>;
}

export interface RateLimitSettings {
  /** Requests per window per API key, user or (unauthenticated) client address. */
  readonly max: number;
  readonly timeWindowMs: number;
  /** Login attempts per window per client address. */
  readonly loginMax: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = {
  max: 6_000,
  timeWindowMs: 60_000,
  loginMax: 20,
};

export interface ApiDependencies {
  readonly pool: Pool;
  readonly actors: ActorAccess;
  /**
   * HMAC key for user tokens (GITO_TOKEN_SECRET, at least 32 bytes). Without one a random key is
   * made (and a warning logged): tokens then work only on this process until it restarts.
   */
  readonly tokenSecret?: string;
  readonly tokenTtlMs?: number;
  /**
   * The HTTP ingest path, read at each request (ingestion may start after the gateway);
   * undefined answers 503.
   */
  readonly ingest?: () => HttpIngest | undefined;
  /** Largest HTTP ingest body (GITO_INGEST_MAX_PAYLOAD_BYTES); default 256 KiB. */
  readonly ingestMaxPayloadBytes?: number;
  readonly clusterStatus?: () => Promise<ClusterStatusReport>;
  readonly rateLimit?: Partial<RateLimitSettings>;
  /** Deadline of a device status read (ask). Default 2 s. */
  readonly statusTimeoutMs?: number;
  /**
   * Resources beyond the built-in ones (gateway/routes/index.ts), e.g. audit, GDPR, the live
   * stream, rules and alerts: each an ApiResource, registered under /api/v1 the same way.
   */
  readonly resources?: readonly ApiResource[];
  /**
   * Root-level plugins that must see every API route (e.g. the audit hook): run after
   * authentication is installed and before any resource is registered.
   */
  readonly install?: (app: FastifyInstance, ctx: ApiContext) => void | Promise<void>;
  /** Rules, maintenance windows, alerts and backtests (app/alerting.ts); their routes need it. */
  readonly alerting?: AlertingAccess;
  /** The sealer of notification secrets; contact point writes answer 503 without it. */
  readonly notify?: NotifyAccess;
  /** Serve the OpenAPI UI at /docs (default true). */
  readonly docs?: boolean;
  readonly now?: () => number;
}
