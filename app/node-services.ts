import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AuditLog, scheduleAuditRetention } from '../db/audit/index.ts';
import type { DeviceStatusWriter } from '../db/devices/status-writer.ts';
import { InProcessLiveEvents, type LiveEvents } from '../gateway/live/events.ts';
import type { ActorSystem } from '../runtime/index.ts';
import { type Alerting, startAlerting } from './alerting.ts';
import type { GitoConfig } from './config.ts';
import { registerDevices } from './ingestion.ts';
import { type Notifications, runNotifications, startNotifications } from './notifications.ts';

/** The domain every node runs, whatever hosts it (embedded default or `gito node`). */
export interface NodeServices {
  readonly alerting: Alerting;
  readonly notifications: Notifications;
  readonly statusWriter: DeviceStatusWriter;
  /** Device status changes and alert events for the live stream. */
  readonly live: LiveEvents;
  readonly auditLog: AuditLog;
  /** Starts the work that sends messages to actors anywhere (after the node can route). */
  run(): void;
  stop(): Promise<void>;
}

/**
 * Registers the actor kinds (rules, devices, escalation) and builds the services around them.
 * Call before the system handles messages and before ingestion starts; call run() once the
 * node is a member (cluster) or right away (embedded).
 */
export async function startNodeServices(setup: {
  readonly system: ActorSystem;
  readonly pool: Pool;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly config: GitoConfig;
  /** The live event bus (a Redis bridge in a cluster); in-process by default. */
  readonly live?: LiveEvents;
  /** Environment for the notification settings and secret key; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}): Promise<NodeServices> {
  const { system, pool, registry, logger, config } = setup;
  const live =
    setup.live ??
    new InProcessLiveEvents((err) =>
      logger.warn({ err: String(err) }, 'live stream listener failed'),
    );
  const alerting = await startAlerting({
    system,
    pool,
    registry,
    logger: logger.child({ component: 'alerting' }),
  });
  alerting.listeners.add((change) => {
    const a = change.alert;
    for (const e of change.events) {
      live.publish({
        type: `alert.${e.type}`,
        tenantId: a.tenantId,
        at: e.at,
        ...(a.deviceKey === null ? {} : { deviceKey: a.deviceKey }),
        ...(a.devices === null ? {} : { devices: a.devices }),
        severity: a.severity,
        data: {
          alertId: a.id,
          ruleId: a.ruleId,
          state: a.state,
          suppressed: a.suppressed,
          actor: e.actor,
          details: e.details,
        },
      });
    }
  });
  const statusWriter = registerDevices(system, pool, {
    registry,
    logger: logger.child({ component: 'devices' }),
    offlineAfterMs: config.ingest.deviceOfflineAfterMs,
    rules: alerting.deviceRules,
    onTransition: (t) =>
      live.publish({
        type: 'device.status',
        tenantId: t.tenantId,
        at: t.at,
        deviceKey: t.deviceKey,
        data: { online: t.online, reason: t.reason },
      }),
  });
  const notifications = startNotifications({
    system,
    pool,
    registry,
    logger,
    nodeId: config.nodeId,
    alerting,
    ...(setup.env === undefined ? {} : { env: setup.env }),
  });
  const auditLog = new AuditLog(pool, {
    onRetry: (err, attempt) => logger.warn({ err: String(err), attempt }, 'audit write retried'),
  });
  const retention = scheduleAuditRetention(pool, {
    onError: (err) => logger.warn({ err: String(err) }, 'audit retention failed'),
  });
  return {
    alerting,
    notifications,
    statusWriter,
    live,
    auditLog,
    run: () => runNotifications(notifications),
    async stop() {
      await retention.stop();
      await notifications.stop();
      await auditLog.flush();
      await statusWriter.close();
      await alerting.stop();
    },
  };
}
