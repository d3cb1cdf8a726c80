import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Notification metrics. Volumes are modest (a delivery costs a network round trip), so these
 * are plain prom-client metrics updated as things happen. Without a registry they still count
 * (tests read them) but are exported nowhere.
 */
export class NotifyMetrics {
  /** gito_notify_attempts_total{channel, result}: delivered, retryable, permanent. */
  readonly attempts: Counter<'channel' | 'result'>;
  /** gito_notify_deliveries_total{channel, status}: how deliveries ended. */
  readonly finished: Counter<'channel' | 'status'>;
  readonly attemptSeconds: Histogram<'channel'>;
  /** gito_notify_enqueued_total{channel}: new outbox rows (duplicates not counted). */
  readonly enqueued: Counter<'channel'>;
  /** gito_notify_rejected_total{channel, field}: planned deliveries refused (bad target). */
  readonly rejected: Counter<'channel' | 'field'>;
  /** gito_notify_throttled_total{scope}: sends postponed by a rate limit (channel, tenant, target). */
  readonly throttled: Counter<'scope'>;
  readonly templateFallbacks: Counter<'channel'>;
  readonly reclaimed: Counter;
  /** Completions that found their claim gone (the lease expired meanwhile). */
  readonly staleCompletions: Counter;
  readonly hookErrors: Counter;
  readonly inFlight: Gauge;

  constructor(registry?: Registry) {
    const registers = registry === undefined ? [] : [registry];
    this.attempts = new Counter({
      name: 'gito_notify_attempts_total',
      help: 'Notification send attempts by channel and result (delivered, retryable, permanent)',
      labelNames: ['channel', 'result'],
      registers,
    });
    this.finished = new Counter({
      name: 'gito_notify_deliveries_total',
      help: 'Notification deliveries finished, by channel and status (delivered, failed, cancelled)',
      labelNames: ['channel', 'status'],
      registers,
    });
    this.attemptSeconds = new Histogram({
      name: 'gito_notify_attempt_duration_seconds',
      help: 'Duration of one send attempt, by channel',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.enqueued = new Counter({
      name: 'gito_notify_enqueued_total',
      help: 'Notification deliveries planned (outbox rows created), by channel',
      labelNames: ['channel'],
      registers,
    });
    this.rejected = new Counter({
      name: 'gito_notify_rejected_total',
      help: 'Planned deliveries refused before the outbox (bad target), by channel and field',
      labelNames: ['channel', 'field'],
      registers,
    });
    this.throttled = new Counter({
      name: 'gito_notify_throttled_total',
      help: 'Sends postponed by a rate limit, by scope (channel, tenant, target)',
      labelNames: ['scope'],
      registers,
    });
    this.templateFallbacks = new Counter({
      name: 'gito_notify_template_fallbacks_total',
      help: 'Tenant templates that failed to render; the default was used',
      labelNames: ['channel'],
      registers,
    });
    this.reclaimed = new Counter({
      name: 'gito_notify_reclaimed_total',
      help: 'Deliveries reclaimed from a node whose lease expired (crashed or stalled mid-send)',
      registers,
    });
    this.staleCompletions = new Counter({
      name: 'gito_notify_stale_completions_total',
      help: 'Attempt outcomes recorded after the claim was lost to lease expiry',
      registers,
    });
    this.hookErrors = new Counter({
      name: 'gito_notify_failed_hook_errors_total',
      help: 'onFailed hook calls that threw (the failure itself stays recorded)',
      registers,
    });
    this.inFlight = new Gauge({
      name: 'gito_notify_in_flight',
      help: 'Deliveries this node is sending right now',
      registers,
    });
  }
}
