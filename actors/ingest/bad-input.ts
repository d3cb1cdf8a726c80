/**
 * Counting and logging dropped input. Counters are plain numbers on the hot path, read by
 * prom-client at scrape time (as runtime/metrics.ts does): a labelled prom-client `inc()` per
 * message would cost more than parsing it.
 */
import { Counter, type Registry } from 'prom-client';
import { type Logger, RateLimitedLog } from '../../runtime/logger.ts';
import { BAD_INPUT_REASONS, type BadInputReason } from './types.ts';

/**
 * What became of a received message; the three partition the messages received:
 * - `accepted`: parsed and resolved, handed on to be stored;
 * - `rejected`: dropped as bad input (every reason except `rate-limited`);
 * - `throttled`: dropped by the per-device rate limit (reason `rate-limited`).
 * Redelivered duplicates are not an ingest outcome: the parser cannot tell them apart, and
 * the telemetry table drops them on insert (see db/migrations/0001_core.sql).
 */
export type IngestOutcome = 'accepted' | 'rejected' | 'throttled';
export const INGEST_OUTCOMES: readonly IngestOutcome[] = ['accepted', 'rejected', 'throttled'];

export class BadInputCounter {
  accepted = 0;
  rejected = 0;
  throttled = 0;
  private readonly byReason: Record<BadInputReason, number>;

  constructor() {
    const byReason = {} as Record<BadInputReason, number>;
    for (const r of BAD_INPUT_REASONS) byReason[r] = 0;
    this.byReason = byReason;
  }

  accept(): void {
    this.accepted++;
  }

  /** Counts one dropped message; `rate-limited` counts as throttled, the rest as rejected. */
  reject(reason: BadInputReason): void {
    this.byReason[reason]++;
    if (reason === 'rate-limited') this.throttled++;
    else this.rejected++;
  }

  count(reason: BadInputReason): number {
    return this.byReason[reason];
  }

  outcome(outcome: IngestOutcome): number {
    return this[outcome];
  }
}

/**
 * Registers `gito_ingest_messages_total{outcome}` and `gito_ingest_bad_input_total{reason}`,
 * read from `counter` at every scrape. Every label value is exported, zeros included.
 */
export function registerIngestMetrics(registry: Registry, counter: BadInputCounter): void {
  new Counter({
    name: 'gito_ingest_messages_total',
    help: 'Telemetry messages received, by outcome (accepted, rejected, throttled)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const o of INGEST_OUTCOMES) this.inc({ outcome: o }, counter.outcome(o));
    },
  });
  new Counter({
    name: 'gito_ingest_bad_input_total',
    help: 'Telemetry messages dropped, by reason (see docs/ingestion.md)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of BAD_INPUT_REASONS) this.inc({ reason: r }, counter.count(r));
    },
  });
}

/** Longest topic written to a log line. */
const MAX_LOGGED_TOPIC = 200;

/**
 * Logs dropped messages: at most `perWindow` lines per reason per `windowMs`, then one line
 * with the number held back. Each line names the topic, the reason and the detail.
 */
export class BadInputLog {
  private readonly log: RateLimitedLog;

  constructor(logger: Logger, perWindow = 5, windowMs = 60_000) {
    this.log = new RateLimitedLog(logger, perWindow, windowMs);
  }

  report(topic: string, reason: BadInputReason, detail: string): void {
    const shown = topic.length <= MAX_LOGGED_TOPIC ? topic : `${topic.slice(0, MAX_LOGGED_TOPIC)}…`;
    this.log.warn(reason, { topic: shown, reason, detail }, 'ingest: dropped bad input');
  }
}

/** Counts and logs one dropped message. */
export function dropBadInput(
  counter: BadInputCounter,
  log: BadInputLog,
  topic: string,
  reason: BadInputReason,
  detail: string,
): void {
  counter.reject(reason);
  log.report(topic, reason, detail);
}
