import {
  type CancelResult,
  cancelDeliveriesOfAlert,
  type EnqueuedRow,
  insertDeliveries,
  type NotificationEvent,
} from '../../../db/notify/deliveries.ts';
import { type SecretSealer, sealJson } from '../../../db/notify/secrets.ts';
import type { Queryable } from '../../../db/notify/sql.ts';
import { TargetError } from '../channels/channel.ts';
import { channelModule } from '../channels/registry.ts';
import type { NotifyMetrics } from '../metrics.ts';
import type { RenderedMessage } from '../types.ts';

/**
 * Planning deliveries: the write side of the outbox. The escalation work calls
 * enqueueDeliveries inside the transaction that records its step, so a step and its deliveries
 * commit together or not at all; then it wakes the dispatcher (dispatcher.wake()) after commit.
 */

export interface PlannedDelivery {
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly channel: string;
  /** The channel's target (see each channel's parseTarget), e.g. {to: 'ops@example.com'}. */
  readonly target: unknown;
  readonly contactPointId?: string | null;
  /** renderMessage(...).message */
  readonly message: RenderedMessage;
  /**
   * Unique per tenant; the same key planned twice is one delivery. Make it name the step, e.g.
   * `alert:42:level:1:repeat:0:cp:9` (and `alert:42:resolved:cp:9`).
   */
  readonly idempotencyKey: string;
  /** Not sent before this (ms). Default: now. */
  readonly notBefore?: number;
  readonly maxAttempts?: number;
  /** Not attempted after created + maxAgeMs. */
  readonly maxAgeMs?: number;
}

export interface OutboxDefaults {
  readonly maxAttempts: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_OUTBOX: OutboxDefaults = { maxAttempts: 20, maxAgeMs: 24 * 60 * 60 * 1000 };

/** A planned delivery refused before anything was written; `field` names the bad field. */
export class DeliveryRejectedError extends Error {
  constructor(
    readonly index: number,
    readonly field: string,
    message: string,
  ) {
    super(`delivery ${index}: ${field}: ${message}`);
    this.name = 'DeliveryRejectedError';
  }
}

export interface DeliveryOutboxOptions {
  readonly sealer: SecretSealer;
  readonly now?: () => number;
  readonly defaults?: Partial<OutboxDefaults>;
  readonly metrics?: NotifyMetrics;
}

const KEY = /^[\x21-\x7e]{1,200}$/;

export class DeliveryOutbox {
  private readonly sealer: SecretSealer;
  private readonly now: () => number;
  private readonly defaults: OutboxDefaults;
  private readonly metrics: NotifyMetrics | undefined;

  constructor(options: DeliveryOutboxOptions) {
    this.sealer = options.sealer;
    this.now = options.now ?? Date.now;
    this.defaults = { ...DEFAULT_OUTBOX, ...options.defaults };
    this.metrics = options.metrics;
  }

  /**
   * Writes the deliveries (one statement) on `db`: pass the client of your open transaction.
   * Every delivery is checked first (channel known, target valid, key well-formed); a bad one
   * throws DeliveryRejectedError before anything is written, leaving the transaction usable.
   * Keys that already exist are skipped (`created: false`).
   */
  async enqueueDeliveries(
    db: Queryable,
    deliveries: readonly PlannedDelivery[],
  ): Promise<EnqueuedRow[]> {
    const now = this.now();
    const rows = await Promise.all(
      deliveries.map(async (d, index) => {
        const module = channelModule(d.channel);
        if (module === undefined) {
          this.metrics?.rejected.inc({ channel: 'unknown', field: 'channel' });
          throw new DeliveryRejectedError(index, 'channel', `unknown channel '${d.channel}'`);
        }
        let target: unknown;
        try {
          target = module.parseTarget(d.target);
        } catch (err) {
          const field = err instanceof TargetError ? err.field : 'target';
          this.metrics?.rejected.inc({ channel: d.channel, field });
          throw new DeliveryRejectedError(
            index,
            `target.${field}`,
            err instanceof TargetError ? err.message.slice(field.length + 2) : String(err),
          );
        }
        if (!KEY.test(d.idempotencyKey)) {
          this.metrics?.rejected.inc({ channel: d.channel, field: 'idempotencyKey' });
          throw new DeliveryRejectedError(
            index,
            'idempotencyKey',
            'must be 1-200 visible ASCII characters',
          );
        }
        if (d.message.tenantId !== d.tenantId) {
          throw new DeliveryRejectedError(index, 'message.tenantId', 'differs from tenantId');
        }
        const maxAttempts = d.maxAttempts ?? this.defaults.maxAttempts;
        if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
          throw new DeliveryRejectedError(index, 'maxAttempts', 'must be an integer >= 1');
        }
        const event: NotificationEvent = d.message.event;
        return {
          tenantId: d.tenantId,
          alertId: d.alertId,
          channel: module.name,
          event,
          recipient: module.recipientKey(target, d.message),
          contactPointId: d.contactPointId ?? null,
          targetSealed: await sealJson(this.sealer, target),
          payload: d.message as unknown as Record<string, unknown>,
          idempotencyKey: d.idempotencyKey,
          maxAttempts,
          createdAt: now,
          notBefore: d.notBefore ?? now,
          deadline: now + (d.maxAgeMs ?? this.defaults.maxAgeMs),
        };
      }),
    );
    const result = await insertDeliveries(db, rows);
    result.forEach((r, i) => {
      if (r.created) this.metrics?.enqueued.inc({ channel: rows[i]!.channel });
    });
    return result;
  }

  /**
   * Cancels the alert's unfinished deliveries (acknowledged or resolved: no more pages).
   * `events` limits it, e.g. ['firing'] keeps a pending PagerDuty resolve.
   */
  cancelPending(
    db: Queryable,
    alertId: string,
    events?: readonly NotificationEvent[],
  ): Promise<CancelResult> {
    return cancelDeliveriesOfAlert(db, alertId, this.now(), events);
  }
}
