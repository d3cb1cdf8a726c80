import type { Pool } from 'pg';
import { Counter, type Registry } from 'prom-client';
import { RuleCatalog } from '../actors/rules/catalog.ts';
import { DeviceRuleEngine } from '../actors/rules/device-rules.ts';
import type { CompiledRule } from '../actors/rules/eval/index.ts';
import { createRuleActor, ruleActorId } from '../actors/rules/rule-actor.ts';
import { type AlertChange, AlertStore } from '../db/alerts/alert-store.ts';
import { DeviceProfileLoader } from '../db/devices/profiles.ts';
import { countInScope } from '../db/devices/scope.ts';
import type { ActorSystem, Logger } from '../runtime/index.ts';

export interface Alerting {
  readonly catalog: RuleCatalog;
  readonly alerts: AlertStore;
  /** For the device actor: evaluates the rules that apply to a device. */
  readonly deviceRules: DeviceRuleEngine;
  /** Listeners of committed alert changes (live stream, escalation wake-up). */
  readonly listeners: Set<(change: AlertChange) => void>;
  /** Tells the listeners of a change committed elsewhere (an acknowledgement via the API). */
  announce(change: AlertChange): void;
  stop(): Promise<void>;
}

/** What can deliver a message to an actor anywhere in the cluster. */
export interface Teller {
  tell(target: ReturnType<typeof ruleActorId>, message: { type: string }): void;
}

/**
 * The alerting core of a node: the rule catalogue (loaded, then following changes), the rule
 * actor kind and the device-side rule engine. Call before registering the device kind and
 * before ingestion starts, so the first readings are evaluated.
 */
export async function startAlerting(setup: {
  readonly system: ActorSystem;
  /** Routes to the owner (a ClusterNode in cluster mode); default the system itself. */
  readonly router?: Teller;
  readonly pool: Pool;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly catalogPollMs?: number;
}): Promise<Alerting> {
  const { system, pool, registry, logger } = setup;
  const router: Teller = setup.router ?? system;
  const metrics = alertMetrics(registry);
  const listeners = new Set<(change: AlertChange) => void>();
  const announce = (change: AlertChange) => {
    for (const e of change.events) {
      metrics.events.inc({ event: e.type, severity: change.alert.severity });
      if (e.type === 'suppressed' || (e.type === 'opened' && change.alert.suppressed !== null)) {
        metrics.suppressed.inc({ reason: change.alert.suppressed ?? String(e.details.reason) });
      }
    }
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (err) {
        logger.warn({ err: String(err) }, 'alert listener failed');
      }
    }
  };
  const catalog = new RuleCatalog(pool, {
    ...(setup.catalogPollMs === undefined ? {} : { pollEveryMs: setup.catalogPollMs }),
    onError: (err) => logger.warn({ err: String(err) }, 'rule catalogue refresh failed'),
    onChange: (tenantId, ruleIds) => {
      for (const id of ruleIds) {
        try {
          router.tell(ruleActorId(tenantId, id), { type: 'ruleChanged' });
        } catch (err) {
          logger.warn({ err: String(err), rule: id }, 'rule change not delivered');
        }
      }
    },
  });
  await catalog.start();
  const alerts = new AlertStore(pool);
  const scopeCounts = new DeviceScopeCounter(pool);
  system.register(
    createRuleActor({
      catalog,
      alerts,
      devicesInScope: (rule) => scopeCounts.count(rule),
      onInvalidWindow: (id, error) =>
        logger.warn({ window: id, error }, 'maintenance window cannot be evaluated; ignored'),
      onChange: (change) => announce(change),
    }),
  );
  const profiles = new DeviceProfileLoader(pool, (err) =>
    logger.warn({ err: String(err) }, 'device profiles not loaded'),
  );
  const deviceRules = new DeviceRuleEngine({ catalog, profiles, registry });
  return {
    catalog,
    alerts,
    deviceRules,
    listeners,
    announce,
    stop: () => catalog.stop(),
  };
}

function alertMetrics(registry: Registry) {
  return {
    events: new Counter({
      name: 'gito_alert_events_total',
      help: 'Alert lifecycle events committed (opened, acknowledged, resolved, suppressed...), by severity',
      labelNames: ['event', 'severity'],
      registers: [registry],
    }),
    suppressed: new Counter({
      name: 'gito_alert_suppressed_total',
      help: 'Alerts that opened suppressed or became suppressed (they notify no one), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

/** Devices in a rule's scope (for percent aggregates), cached for a minute per rule version. */
class DeviceScopeCounter {
  private readonly cache = new Map<string, { at: number; count: number }>();

  constructor(private readonly pool: Pool) {}

  async count(rule: CompiledRule): Promise<number> {
    const key = `${rule.rule.id}@${rule.rule.version}`;
    const hit = this.cache.get(key);
    if (hit !== undefined && Date.now() - hit.at < 60_000) return hit.count;
    const count = await countInScope(this.pool, rule.rule.tenantId, rule.rule.scope);
    this.cache.set(key, { at: Date.now(), count });
    return count;
  }
}
