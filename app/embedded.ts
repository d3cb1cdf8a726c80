import { hostname } from 'node:os';
import pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildGateway } from '../gateway/server.ts';
import { ActorSystem } from '../runtime/index.ts';
import type { GitoConfig } from './config.ts';

export interface RunningNode {
  readonly url: string;
  readonly system: ActorSystem;
  /** Graceful stop: stop taking requests, drain and passivate actors. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The embedded default: one process hosting one node and the gateway, needing nothing installed.
 * Later stages add the in-process MQTT broker and embedded PostgreSQL here.
 */
export async function startEmbedded(config: GitoConfig): Promise<RunningNode> {
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId, host: hostname() } });
  const registry = new Registry();
  registry.setDefaultLabels({ node: config.nodeId });
  collectDefaultMetrics({ register: registry });

  const system = new ActorSystem({
    nodeId: config.nodeId,
    logger: logger.child({ component: 'runtime' }),
    registry,
    idleTimeoutMs: config.actorIdleTimeoutMs,
    defaultAskTimeoutMs: config.askTimeoutMs,
    mailboxCapacity: config.mailboxCapacity,
  });

  const gateway = await buildGateway({
    logger: logger.child({ component: 'gateway' }),
    registry,
    nodeId: config.nodeId,
    readiness: {
      runtime: async () => {
        if (system.stopping) throw new Error('actor system is shutting down');
      },
    },
  });
  const url = await gateway.listen({ host: config.httpHost, port: config.httpPort });
  logger.info({ url, pid: process.pid }, 'gito started (embedded default)');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('gito stopping');
      await gateway.close();
      await system.shutdown();
      logger.info({ passivated: system.activeCount === 0 }, 'gito stopped');
      logger.flush();
    })();
    return stopping;
  };
  return { url, system, stop };
}
