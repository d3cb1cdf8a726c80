import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { notifyConfigFromEnv } from '../actors/notify/config.ts';
import { createEscalationActor } from '../actors/notify/escalation/escalation-actor.ts';
import { OutboxRelay } from '../actors/notify/escalation/relay.ts';
import { createNotificationService, type NotificationService } from '../actors/notify/service.ts';
import { AlertStore } from '../db/alerts/alert-store.ts';
import { AlertOutbox } from '../db/alerts/outbox.ts';
import { type SecretSealer, withPlaintextFallback } from '../db/notify/secrets.ts';
import { secretBoxFromEnv } from '../db/secrets/secret-box.ts';
import type { ActorSystem } from '../runtime/index.ts';
import type { Alerting } from './alerting.ts';

export interface Notifications {
  readonly service: NotificationService;
  readonly relay: OutboxRelay;
  /** Seals and opens contact point secrets (the API's contact point routes use it too). */
  readonly sealer: SecretSealer;
  stop(): Promise<void>;
}

/**
 * Escalation and delivery on a node: the escalation actor kind, the relay from the alert outbox
 * to escalation actors, and the delivery dispatcher (docs/escalation.md, docs/notifications.md).
 * Every node runs all three; the outboxes are shared through PostgreSQL.
 */
export function startNotifications(setup: {
  readonly system: ActorSystem;
  readonly pool: Pool;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly alerting: Alerting;
  readonly env?: NodeJS.ProcessEnv;
}): Notifications {
  const { system, pool, logger } = setup;
  const env = setup.env ?? process.env;
  const sealer = withPlaintextFallback(secretBoxFromEnv(env, { warn: (m) => logger.warn(m) }));
  const alerts = new AlertStore(pool);
  const service = createNotificationService({
    pool,
    config: notifyConfigFromEnv(env),
    sealer,
    nodeId: setup.nodeId,
    registry: setup.registry,
    logger: logger.child({ component: 'delivery' }),
    // Same transaction as the delivery's failure: the alert's history says it could not notify.
    onFailed: async (delivery, client) => {
      if (delivery.alertId === null) return;
      await alerts.noteWith(client, delivery.alertId, 'delivery_failed', 'system', Date.now(), {
        delivery: delivery.id,
        channel: delivery.channel,
        reason: delivery.reason,
      });
    },
  });
  const publicUrl = env.GITO_PUBLIC_URL;
  system.register(
    createEscalationActor({
      pool,
      outbox: service.outbox,
      sealer,
      wakeDispatcher: () => service.dispatcher.wake(),
      ...(publicUrl === undefined || publicUrl === '' ? {} : { publicUrl }),
    }),
  );
  const relay = new OutboxRelay({
    outbox: new AlertOutbox(pool),
    actors: system,
    logger: logger.child({ component: 'escalation-relay' }),
  });
  // An alert change committed on this node: hand it over now rather than at the next poll.
  const wake = () => relay.wake();
  setup.alerting.listeners.add(wake);
  return {
    service,
    relay,
    sealer,
    stop: async () => {
      setup.alerting.listeners.delete(wake);
      await relay.stop();
      await service.stop();
    },
  };
}

/** Starts what startNotifications built (after the node can route messages). */
export function runNotifications(n: Notifications): void {
  n.service.start();
  n.relay.start();
}
