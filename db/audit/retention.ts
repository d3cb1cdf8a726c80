import type { Pool } from 'pg';
import { inTransaction } from '../sql.ts';
import { lockChainHead } from './append.ts';
import { GLOBAL_CHAIN, RETENTION_ACTION } from './record.ts';
import { recordAuditInTransaction } from './record-audit.ts';

export interface AuditRetentionResult {
  readonly tenantId: string;
  readonly retentionDays: number;
  /** Records deleted by this run. */
  readonly deleted: number;
  /** The chain now starts after this record (seq and hash of the last deleted one). */
  readonly anchor: { seq: number; hash: string };
}

export interface AuditRetentionOptions {
  /** Clock; default Date.now. */
  now?: number;
  /** Only this tenant (default: every tenant with audit_retention_days set, and '_global'). */
  tenantId?: string;
  /** Retention of the '_global' chain (anonymous refusals), which no tenant owns; default 90. */
  globalRetentionDays?: number;
}

export const DEFAULT_GLOBAL_RETENTION_DAYS = 90;

const DAY_MS = 86_400_000;

/** Sets a tenant's audit retention (null keeps records forever). False when the tenant is unknown. */
export async function setAuditRetention(
  pool: Pool,
  tenantId: string,
  days: number | null,
): Promise<boolean> {
  if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= 36_500)) {
    throw new RangeError(`audit retention days: ${days} is not an integer in 1..36500`);
  }
  const res = await pool.query('UPDATE tenants SET audit_retention_days = $2 WHERE id = $1', [
    tenantId,
    days,
  ]);
  return (res.rowCount ?? 0) > 0;
}

/**
 * Deletes each tenant's audit records older than its retention, keeping the chain verifiable: only
 * a prefix of the chain goes (up to the first record still within retention, so a record with a
 * skewed clock never takes newer ones with it), the head keeps the last deleted record's hash as
 * the anchor, and an 'audit.retention' record stating that anchor is appended in the same
 * transaction (verification checks that the anchor is the one a retention record states).
 */
export async function applyAuditRetention(
  pool: Pool,
  options: AuditRetentionOptions = {},
): Promise<AuditRetentionResult[]> {
  const now = options.now ?? Date.now();
  const { rows: tenants } = await pool.query<{ id: string; days: number }>(
    `SELECT id, days FROM (
       SELECT id, audit_retention_days AS days FROM tenants WHERE audit_retention_days IS NOT NULL
       UNION ALL SELECT $2::text, $3::int
     ) AS t WHERE ($1::text IS NULL OR id = $1) ORDER BY id`,
    [
      options.tenantId ?? null,
      GLOBAL_CHAIN,
      options.globalRetentionDays ?? DEFAULT_GLOBAL_RETENTION_DAYS,
    ],
  );
  const results: AuditRetentionResult[] = [];
  for (const tenant of tenants) {
    const result = await inTransaction(pool, async (client) => {
      const head = await lockChainHead(client, tenant.id);
      const cutoff = now - tenant.days * DAY_MS;
      const { rows } = await client.query<{ first_kept: string | null; anchor_seq: string }>(
        `SELECT (SELECT min(seq) FROM audit_log WHERE tenant_id = $1
                   AND at >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond')::text
                  AS first_kept,
                anchor_seq::text AS anchor_seq
           FROM audit_heads WHERE tenant_id = $1`,
        [tenant.id, cutoff],
      );
      const anchorSeq = Number(rows[0]!.anchor_seq);
      const firstKept = rows[0]!.first_kept;
      const lastDeleted = firstKept === null ? head.seq : Number(firstKept) - 1;
      if (lastDeleted <= anchorSeq) return undefined;
      const last = await client.query<{ hash: string }>(
        'SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2',
        [tenant.id, lastDeleted],
      );
      const anchorHash = last.rows[0]?.hash;
      if (anchorHash === undefined) {
        // Deleting around a hole would hide it: leave the chain for verification to report.
        throw new Error(
          `audit retention of tenant '${tenant.id}': record ${lastDeleted} is missing; run gito audit verify`,
        );
      }
      const deleted = await client.query(
        'DELETE FROM audit_log WHERE tenant_id = $1 AND seq <= $2',
        [tenant.id, lastDeleted],
      );
      await client.query(
        'UPDATE audit_heads SET anchor_seq = $2, anchor_hash = $3 WHERE tenant_id = $1',
        [tenant.id, lastDeleted, anchorHash],
      );
      const count = deleted.rowCount ?? 0;
      await recordAuditInTransaction(
        client,
        [
          {
            tenantId: tenant.id,
            actor: { kind: 'system', id: 'retention' },
            action: RETENTION_ACTION,
            resourceType: 'audit_log',
            after: {
              anchorSeq: lastDeleted,
              anchorHash,
              deleted: count,
              retentionDays: tenant.days,
              cutoff: new Date(cutoff).toISOString(),
            },
          },
        ],
        { now },
      );
      return {
        tenantId: tenant.id,
        retentionDays: tenant.days,
        deleted: count,
        anchor: { seq: lastDeleted, hash: anchorHash },
      };
    });
    if (result !== undefined) results.push(result);
  }
  return results;
}

export interface AuditRetentionSchedule {
  /** Runs now (or joins the run in progress). */
  runNow(): Promise<AuditRetentionResult[]>;
  /** Cancels the schedule and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * applyAuditRetention at start and then every `intervalMs` (default daily); runs never overlap,
 * a failed run is reported to onError and retried at the next interval. Safe on several
 * processes at once (each tenant's run holds its chain's lock).
 */
export function scheduleAuditRetention(
  pool: Pool,
  options: {
    intervalMs?: number;
    /** Clock; default Date.now. */
    now?: () => number;
    onRun?: (results: AuditRetentionResult[]) => void;
    onError?: (err: unknown) => void;
  } = {},
): AuditRetentionSchedule {
  let running: Promise<AuditRetentionResult[]> | undefined;
  let stopped = false;
  const runNow = () => {
    running ??= applyAuditRetention(pool, options.now === undefined ? {} : { now: options.now() })
      .then((results) => {
        options.onRun?.(results);
        return results;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const tick = () => {
    if (!stopped) runNow().catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(tick, options.intervalMs ?? DAY_MS);
  timer.unref(); // housekeeping must not keep a process alive
  tick();
  return {
    runNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
