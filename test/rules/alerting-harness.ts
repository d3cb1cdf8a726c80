import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { deviceActorId } from '../../actors/device/index.ts';
import type { RuleDefinition } from '../../actors/rules/model.ts';
import { type Alerting, startAlerting } from '../../app/alerting.ts';
import { registerDevices as registerDeviceKind } from '../../app/ingestion.ts';
import { DefinitionRepo } from '../../db/alerts/rule-repo.ts';
import type { DeviceStatusWriter } from '../../db/devices/status-writer.ts';
import { PostgresReminderStore, PostgresStateStore } from '../../db/index.ts';
import { ActorSystem, silentLogger } from '../../runtime/index.ts';

/** One node with devices, rules and alerts on a real database (no MQTT: readings are told). */
export interface AlertingNode {
  readonly system: ActorSystem;
  readonly alerting: Alerting;
  readonly statusWriter: DeviceStatusWriter;
  stop(): Promise<void>;
}

export async function startAlertingNode(pool: Pool, nodeId = 'n1'): Promise<AlertingNode> {
  const registry = new Registry();
  const system = new ActorSystem({
    nodeId,
    logger: silentLogger,
    registry,
    stateStore: new PostgresStateStore(pool),
    reminderStore: new PostgresReminderStore(pool),
    reminderPollIntervalMs: 100,
  });
  const alerting = await startAlerting({
    system,
    pool,
    registry,
    logger: silentLogger,
    catalogPollMs: 200,
  });
  const statusWriter = registerDeviceKind(system, pool, {
    registry,
    logger: silentLogger,
    offlineAfterMs: 60_000,
    rules: alerting.deviceRules,
  });
  return {
    system,
    alerting,
    statusWriter,
    async stop() {
      await system.shutdown();
      await statusWriter.close();
      await alerting.stop();
    },
  };
}

export function reading(
  system: ActorSystem,
  tenantId: string,
  deviceKey: string,
  metrics: Record<string, number | string | boolean>,
  at = Date.now(),
): void {
  system.tell(deviceActorId(tenantId, deviceKey), {
    type: 'telemetry',
    ts: at,
    metrics,
    receivedAt: at,
  });
}

export async function createRule(
  pool: Pool,
  tenantId: string,
  rule: RuleDefinition,
): Promise<string> {
  return (await new DefinitionRepo<RuleDefinition>(pool, 'rules').create(tenantId, rule)).id;
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface AlertRow {
  id: string;
  device_key: string | null;
  state: string;
  severity: string;
  suppressed: string | null;
  count: number;
  resolve_reason: string | null;
  devices: string[] | null;
}

export async function alertsOf(pool: Pool, ruleId: string): Promise<AlertRow[]> {
  const { rows } = await pool.query<AlertRow>(
    `SELECT id::text, device_key, state, severity, suppressed, count, resolve_reason, devices
     FROM alerts WHERE rule_id = $1 ORDER BY id`,
    [ruleId],
  );
  return rows;
}
