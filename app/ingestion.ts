import type { Pool } from 'pg';
import { Counter, type Registry } from 'prom-client';
import { createDeviceActor, deviceActorId, wakeDevices } from '../actors/device/index.ts';
import type { DeviceTransition } from '../actors/device/types.ts';
import { BadInputCounter, registerIngestMetrics } from '../actors/ingest/bad-input.ts';
import { MqttSource } from '../actors/ingest/mqtt/source.ts';
import { IngestPipeline } from '../actors/ingest/pipeline.ts';
import { KeyedRateLimiter } from '../actors/ingest/rate-limit.ts';
import { TELEMETRY_TOPICS } from '../actors/ingest/topics.ts';
import { DEFAULT_LIMITS } from '../actors/ingest/types.ts';
import type { DeviceRuleEngine } from '../actors/rules/device-rules.ts';
import { DeviceDirectory } from '../db/devices/directory.ts';
import { DeviceStatusWriter } from '../db/devices/status-writer.ts';
import { registerTelemetryMetrics } from '../db/telemetry/metrics.ts';
import { TelemetryRetentionJob } from '../db/telemetry/retention-job.ts';
import { TelemetryWriter } from '../db/telemetry/writer.ts';
import type { ActorSystem, Logger } from '../runtime/index.ts';
import type { IngestConfig } from './config.ts';

export interface Ingestion {
  readonly pipeline: IngestPipeline;
  readonly counter: BadInputCounter;
  readonly writer: TelemetryWriter;
  /** Counts for a status line or endpoint. */
  stats(): {
    accepted: number;
    rejected: number;
    throttled: number;
    rowsWritten: number;
    buffered: number;
  };
  /** Stops reading, stores what was accepted (acknowledging it), then disconnects. */
  stop(): Promise<void>;
}

/**
 * Registers the device actor kind, with its transitions counted and logged and its status
 * written to the devices table in batches. Call before the system handles messages.
 */
export function registerDevices(
  system: ActorSystem,
  pool: Pool,
  options: {
    registry: Registry;
    logger: Logger;
    offlineAfterMs: number;
    /** Alert rule evaluation (app/alerting.ts); devices evaluate no rules without it. */
    rules?: DeviceRuleEngine;
    /** Every online/offline transition (the live stream). */
    onTransition?: (transition: DeviceTransition) => void;
  },
): DeviceStatusWriter {
  const statusWriter = new DeviceStatusWriter(pool);
  const transitions = new Counter({
    name: 'gito_device_transitions_total',
    help: 'Device online/offline transitions, by new state',
    labelNames: ['to'],
    registers: [options.registry],
  });
  const events = {
    transition(e: DeviceTransition) {
      transitions.inc({ to: e.online ? 'online' : 'offline' });
      options.onTransition?.(e);
      options.logger.debug(
        { tenant: e.tenantId, device: e.deviceKey, online: e.online, reason: e.reason },
        'device transition',
      );
    },
  };
  system.register(
    createDeviceActor({
      offlineAfterMs: options.offlineAfterMs,
      events,
      statusSink: statusWriter,
      ...(options.rules === undefined ? {} : { rules: options.rules }),
    }),
  );
  return statusWriter;
}

/** Ingestion of one node: MQTT source -> pipeline -> telemetry writer and device actors. */
export async function startIngestion(setup: {
  readonly system: ActorSystem;
  readonly pool: Pool;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly config: IngestConfig;
  /** The broker to read; undefined: HTTP ingest only (a `gito gateway`). */
  readonly mqttUrl: string | undefined;
  readonly clientId: string;
  /** Shared-subscription group; undefined subscribes directly (one consumer, e.g. aedes). */
  readonly shareGroup: string | undefined;
}): Promise<Ingestion> {
  const { system, pool, registry, logger, config } = setup;
  const counter = new BadInputCounter();
  registerIngestMetrics(registry, counter);
  const writer = new TelemetryWriter(pool, { maxDelayMs: config.flushMs });
  registerTelemetryMetrics(registry, writer);
  const retention = new TelemetryRetentionJob(pool, {
    log: (m) => logger.info({}, m),
    onRun: () => writer.invalidateRange(),
  });
  await retention
    .start()
    .catch((err: unknown) => logger.warn({ err: String(err) }, 'retention job failed; will retry'));
  const directory = new DeviceDirectory(pool);

  let source: MqttSource | undefined;
  let lastReconnect = 0;
  const pipeline = new IngestPipeline({
    directory,
    rows: writer,
    deliver: (target, message) => system.tell(target, message),
    counter,
    logger,
    rateLimiter: new KeyedRateLimiter({
      ratePerSecond: config.deviceRatePerSecond,
      burst: config.deviceRateBurst,
    }),
    limits: { ...DEFAULT_LIMITS, maxPayloadBytes: config.maxPayloadBytes },
    onStoreFailure: () => {
      // Unstored messages stay unacknowledged; a broker redelivers them only on reconnect.
      if (Date.now() - lastReconnect < 5_000) return;
      lastReconnect = Date.now();
      setTimeout(() => source?.reconnect(), 1_000).unref();
    },
  });
  if (setup.mqttUrl !== undefined) {
    source = new MqttSource({
      url: setup.mqttUrl,
      clientId: setup.clientId,
      topics: TELEMETRY_TOPICS,
      ...(setup.shareGroup === undefined ? {} : { shareGroup: setup.shareGroup }),
      logger,
      onMessage: (m) => pipeline.handle(m.topic, m.payload, m.receivedAt, m.ack),
    });
    pipeline.onPause((paused) => (paused ? source?.pause() : source?.resume()));
    await source.start();
  }

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
    stop: async () => {
      // Planned stop: leave the shared subscription first (a session that stays subscribed while
      // offline would keep receiving its share of the stream), store and acknowledge what
      // arrived, then disconnect.
      await source?.unsubscribe();
      const deadline = Date.now() + 5_000;
      let quietSince = Date.now();
      let last = counter.accepted + counter.rejected + counter.throttled;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        const seen = counter.accepted + counter.rejected + counter.throttled;
        if (seen !== last || pipeline.inFlight > 0) {
          last = seen;
          quietSince = Date.now();
        } else if (Date.now() - quietSince >= 100) break;
      }
      await writer.close();
      await source?.stop();
      await retention.stop();
    },
  };
}

/**
 * Devices are actors, activated by their messages; a device that went silent while its node was
 * down, or while it moved to another node, would never be activated again and so never declared
 * offline. This job wakes, on this node, every device the database last saw online (the device
 * actor then applies its startup grace and declares it offline only after a full silence period).
 * It runs once the node hosts actors and then every `everyMs`.
 */
export function startDeviceWaker(options: {
  readonly system: ActorSystem;
  readonly pool: Pool;
  readonly logger: Logger;
  /** True when this node should wake the identity (its owner); every device on one node. */
  readonly owns: (actor: string) => boolean;
  readonly everyMs?: number;
}): { stop(): void; runNow(): Promise<number> } {
  const { system, pool, logger, owns } = options;
  let running: Promise<number> | undefined;
  const run = async (): Promise<number> => {
    let woken = 0;
    let after = 0;
    for (;;) {
      const { rows } = await pool.query<{ id: string; tenant_id: string; external_id: string }>(
        `SELECT id, tenant_id, external_id FROM devices
          WHERE status = 'online' AND enabled AND id > $1 ORDER BY id LIMIT 5000`,
        [after],
      );
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]!.id);
      const byTenant = new Map<string, string[]>();
      for (const r of rows) {
        if (!owns(deviceActorId(r.tenant_id, r.external_id))) continue;
        const keys = byTenant.get(r.tenant_id) ?? [];
        keys.push(r.external_id);
        byTenant.set(r.tenant_id, keys);
      }
      for (const [tenant, keys] of byTenant) woken += wakeDevices(system, tenant, keys);
      await system.whenIdle();
    }
    if (woken > 0) logger.info({ woken }, 'woke devices last seen online');
    return woken;
  };
  const runNow = () => {
    running ??= run()
      .catch((err: unknown) => {
        logger.warn({ err: String(err) }, 'waking devices failed; will retry');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void runNow(), options.everyMs ?? 300_000);
  timer.unref();
  return { stop: () => clearInterval(timer), runNow };
}
