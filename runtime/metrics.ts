import { Counter, Gauge, type Registry } from 'prom-client';

/** Upper bounds (seconds) of the handler duration histogram. */
const DURATION_BUCKETS = [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2, 5e-2, 0.25, 1, 5] as const;

/**
 * Per-kind counters kept as plain numbers on the hot path and read by prom-client at scrape
 * time: incrementing a field costs a few nanoseconds, a prom-client `inc()` or `observe()` with
 * labels costs far more, and the runtime handles millions of messages per second.
 */
export class KindStats {
  activations = 0;
  passivations = 0;
  active = 0;
  messages = 0;
  mailboxDepth = 0;
  mailboxRejected = 0;
  failures = 0;
  restarts = 0;
  deadLetters = 0;
  activationFailures = 0;
  /** Asks that expired in the mailbox and were skipped without running the handler. */
  expired = 0;
  /** Turns taken, for sampling 1 in 64 handler durations. */
  turns = 0;
  /** Handler durations: counts per DURATION_BUCKETS bound (non-cumulative) plus overflow. */
  readonly durationCounts = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;

  constructor(readonly kind: string) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.durationCounts[i]!++;
    this.durationSum += seconds;
  }
}

/** Registers the runtime's metrics on `registry`, reading `kinds` at every scrape. */
export function registerRuntimeMetrics(registry: Registry, kinds: () => Iterable<KindStats>): void {
  const counterOf = (name: string, help: string, read: (s: KindStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of kinds()) this.inc({ kind: s.kind }, read(s));
      },
    });
  const gaugeOf = (name: string, help: string, read: (s: KindStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of kinds()) this.set({ kind: s.kind }, read(s));
      },
    });

  counterOf(
    'gito_actor_activations_total',
    'Activations started, by actor kind',
    (s) => s.activations,
  );
  counterOf(
    'gito_actor_passivations_total',
    'Activations passivated (state saved), by kind',
    (s) => s.passivations,
  );
  gaugeOf('gito_actor_active', 'Activations currently resident, by kind', (s) => s.active);
  counterOf(
    'gito_actor_messages_total',
    'Messages processed by handlers, by kind',
    (s) => s.messages,
  );
  gaugeOf(
    'gito_actor_mailbox_depth',
    'Messages waiting in mailboxes, summed by kind',
    (s) => s.mailboxDepth,
  );
  counterOf(
    'gito_actor_mailbox_rejected_total',
    'Messages refused because the mailbox was full, by kind',
    (s) => s.mailboxRejected,
  );
  counterOf(
    'gito_actor_failures_total',
    'Handler failures (thrown or rejected), by kind',
    (s) => s.failures,
  );
  counterOf(
    'gito_actor_restarts_total',
    'Activations restarted by supervision, by kind',
    (s) => s.restarts,
  );
  counterOf(
    'gito_actor_dead_letters_total',
    'Messages moved to the dead-letter sink, by kind',
    (s) => s.deadLetters,
  );
  counterOf(
    'gito_actor_activation_failures_total',
    'Activations that failed to load state or run onActivate, by kind',
    (s) => s.activationFailures,
  );
  counterOf(
    'gito_actor_asks_expired_total',
    'Asks whose deadline passed before their turn; skipped, by kind',
    (s) => s.expired,
  );
  // prom-client types registerMetric() for its own Metric class; it only needs name and get().
  registry.registerMetric(handlerDurationHistogram(kinds) as never);
}

/**
 * A Prometheus histogram whose buckets live in KindStats. prom-client's Histogram cannot be fed
 * pre-aggregated counts, so this object speaks its metric interface (name, help, type, get).
 */
function handlerDurationHistogram(kinds: () => Iterable<KindStats>) {
  const name = 'gito_actor_handler_duration_seconds';
  const help =
    'Handler duration by kind (synchronous turns sampled 1 in 64; async turns all measured)';
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const values: Array<{
        metricName: string;
        labels: Record<string, string | number>;
        value: number;
      }> = [];
      for (const s of kinds()) {
        let cumulative = 0;
        for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
          cumulative += s.durationCounts[i]!;
          const le = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : '+Inf';
          values.push({
            metricName: `${name}_bucket`,
            labels: { le, kind: s.kind },
            value: cumulative,
          });
        }
        values.push({ metricName: `${name}_sum`, labels: { kind: s.kind }, value: s.durationSum });
        values.push({ metricName: `${name}_count`, labels: { kind: s.kind }, value: cumulative });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}
