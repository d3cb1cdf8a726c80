import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import type { SecretSealer } from '../../db/notify/secrets.ts';
import { type Logger, silentLogger } from '../../runtime/logger.ts';
import { AddressPolicy } from './channels/http/address-policy.ts';
import { type ChannelSet, closeChannels, createChannels } from './channels/registry.ts';
import { channelsOptionsFromConfig, type NotifyConfig } from './config.ts';
import { Dispatcher, type OnFailedHook } from './delivery/dispatcher.ts';
import { DeliveryOutbox } from './delivery/outbox.ts';
import { NotifyMetrics } from './metrics.ts';

/** Everything one node needs to send notifications, assembled from NotifyConfig. */
export interface NotificationService {
  readonly channels: ChannelSet;
  readonly outbox: DeliveryOutbox;
  readonly dispatcher: Dispatcher;
  readonly metrics: NotifyMetrics;
  /** Starts the dispatcher. */
  start(): void;
  /** Stops the dispatcher (sends in flight finish) and closes the channels. */
  stop(): Promise<void>;
}

export interface NotificationServiceOptions {
  readonly pool: Pool;
  readonly config: NotifyConfig;
  readonly sealer: SecretSealer;
  readonly nodeId: string;
  readonly onFailed?: OnFailedHook;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly now?: () => number;
}

export function createNotificationService(
  options: NotificationServiceOptions,
): NotificationService {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  const metrics = new NotifyMetrics(options.registry);
  const channels = createChannels(
    channelsOptionsFromConfig(config),
    { logger, addressPolicy: new AddressPolicy(config.webhookAllow) },
    logger,
  );
  const now = options.now ?? Date.now;
  const outbox = new DeliveryOutbox({
    sealer: options.sealer,
    now,
    metrics,
    defaults: { maxAttempts: config.maxAttempts, maxAgeMs: config.maxAgeMs },
  });
  const dispatcher = new Dispatcher({
    pool: options.pool,
    channels,
    sealer: options.sealer,
    nodeId: options.nodeId,
    now,
    logger,
    metrics,
    onFailed: options.onFailed,
    backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
    rateLimits: config.rateLimits,
    leaseMs: config.leaseMs,
    sendTimeoutMs: Math.min(config.leaseMs / 2, config.httpTimeoutMs * 2),
    concurrency: config.concurrency,
    pollIntervalMs: config.pollIntervalMs,
  });
  return {
    channels,
    outbox,
    dispatcher,
    metrics,
    start: () => dispatcher.start(),
    async stop() {
      await dispatcher.stop();
      await closeChannels(channels);
    },
  };
}
