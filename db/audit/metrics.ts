import { Counter, type Registry } from 'prom-client';
import type { AuditWriterStats } from './writer.ts';

/**
 * Registers the audit writer's counters on `registry`, read at scrape time:
 * gito_audit_records_written_total, gito_audit_write_retries_total and
 * gito_audit_write_errors_total (records lost after retries, or refused as malformed: each one is
 * also logged with its content). Safe to call twice on one registry (the second is a no-op).
 */
export function registerAuditMetrics(registry: Registry, stats: AuditWriterStats): void {
  if (registry.getSingleMetric('gito_audit_write_errors_total') !== undefined) return;
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter('gito_audit_records_written_total', 'Audit records committed', () => stats.written);
  counter(
    'gito_audit_write_retries_total',
    'Audit writes retried after a transient database error',
    () => stats.retries,
  );
  counter(
    'gito_audit_write_errors_total',
    'Audit records not written (database failure after retries, or malformed entry); each is logged',
    () => stats.failures,
  );
}
