import type { Pool } from 'pg';
import type { Alert, AlertEvent } from './alert-store.ts';

export interface OutboxEntry {
  readonly id: string;
  readonly tenantId: string;
  readonly alertId: string;
  readonly event: AlertEvent;
  readonly alert: Alert;
}

interface Row {
  id: string;
  tenant_id: string;
  alert_id: string;
  payload: { event: AlertEvent; alert: Alert };
}

/**
 * The alert outbox, consumed by leases (docs/escalation.md, decision 1): claim() takes up to
 * `limit` unconsumed rows whose lease is free or expired and leases them for `leaseMs`;
 * consume() marks rows done. A crashed consumer's rows come back when the lease runs out.
 */
export class AlertOutbox {
  constructor(private readonly pool: Pool) {}

  async claim(limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE alert_outbox SET claimed_until = now() + $2::bigint * interval '1 millisecond'
       WHERE id IN (
         SELECT id FROM alert_outbox
         WHERE consumed_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id::text, tenant_id, alert_id::text, payload`,
      [limit, leaseMs],
    );
    return rows
      .map((r) => ({
        id: r.id,
        tenantId: r.tenant_id,
        alertId: r.alert_id,
        event: r.payload.event,
        alert: r.payload.alert,
      }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  async consume(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      'UPDATE alert_outbox SET consumed_at = now() WHERE id = ANY($1::bigint[])',
      [ids],
    );
  }

  /** Consumed rows older than `olderThanMs` are deleted (housekeeping). */
  async prune(olderThanMs: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM alert_outbox WHERE consumed_at < now() - $1::bigint * interval '1 millisecond'`,
      [olderThanMs],
    );
    return rowCount ?? 0;
  }

  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM alert_outbox WHERE consumed_at IS NULL',
    );
    return rows[0]?.n ?? 0;
  }
}
