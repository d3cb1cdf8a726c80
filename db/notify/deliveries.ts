import type { Pool, PoolClient } from 'pg';
import { inTransaction, ms, msColumn, msParam, type Queryable } from './sql.ts';

/**
 * The delivery outbox (notification_deliveries + notification_attempts). This module holds the
 * SQL; actors/notify/delivery decides what to send and when. See db/migrations/0005_notify.sql
 * for the life of a row and docs/notifications.md for the guarantees.
 *
 * Every time is a millisecond parameter taken from the caller's clock (never now() in SQL), so
 * tests drive the whole life cycle with a fake clock.
 */

export type DeliveryStatus = 'pending' | 'sending' | 'delivered' | 'failed' | 'cancelled';
export type NotificationEvent = 'firing' | 'acknowledged' | 'resolved';
export const NOTIFICATION_EVENTS: readonly NotificationEvent[] = [
  'firing',
  'acknowledged',
  'resolved',
];
export type AttemptStatus = 'sending' | 'delivered' | 'retryable' | 'permanent' | 'abandoned';

/** A row to insert; the caller has sealed the target and rendered the payload. */
export interface DeliveryRowInput {
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly channel: string;
  readonly event: NotificationEvent;
  readonly recipient: string;
  readonly contactPointId: string | null;
  readonly targetSealed: string;
  readonly payload: Record<string, unknown>;
  readonly idempotencyKey: string;
  readonly maxAttempts: number;
  readonly createdAt: number;
  /** First attempt not before this. */
  readonly notBefore: number;
  readonly deadline: number;
}

export interface EnqueuedRow {
  /** null only when a concurrent transaction inserted the same key and has not committed. */
  readonly id: string | null;
  readonly idempotencyKey: string;
  /** false: a delivery with this (tenant, idempotency key) already existed; nothing was added. */
  readonly created: boolean;
}

/** A row claimed for sending: status 'sending', attempt already counted. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly channel: string;
  readonly event: NotificationEvent;
  readonly recipient: string;
  readonly contactPointId: string | null;
  readonly targetSealed: string;
  readonly payload: Record<string, unknown>;
  readonly idempotencyKey: string;
  /** This attempt's number (1 = first). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  readonly deadline: number;
  readonly leaseUntil: number;
}

/** A delivery that ended failed, as handed to the onFailed hook. */
export interface FailedDeliveryRow {
  readonly id: string;
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly channel: string;
  readonly event: NotificationEvent;
  readonly recipient: string;
  readonly contactPointId: string | null;
  readonly idempotencyKey: string;
  readonly attempts: number;
  readonly lastError: string | null;
}

/** The record of a finished attempt. */
export interface AttemptRecord {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly status: Exclude<AttemptStatus, 'sending' | 'abandoned'>;
  readonly responseCode: number | null;
  readonly errorCode: string | null;
  readonly error: string | null;
}

export interface DeliveryView {
  readonly id: string;
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly channel: string;
  readonly event: NotificationEvent;
  readonly recipient: string;
  readonly contactPointId: string | null;
  readonly payload: Record<string, unknown>;
  readonly idempotencyKey: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly nextAttemptAt: number;
  readonly deadline: number;
  readonly providerId: string | null;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly finishedAt: number | null;
  readonly cancelled: boolean;
}

export interface AttemptView {
  readonly deliveryId: string;
  readonly attempt: number;
  readonly node: string;
  readonly startedAt: number;
  readonly durationMs: number | null;
  readonly status: AttemptStatus;
  readonly responseCode: number | null;
  readonly errorCode: string | null;
  readonly error: string | null;
}

/** Longest error text stored per attempt / delivery. */
const MAX_ERROR_CHARS = 2000;

const clip = (text: string | null): string | null =>
  text === null || text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS)}…`;

// ---------------------------------------------------------------------------------------------
// Writing: inside the caller's transaction

/**
 * Inserts deliveries (one statement), skipping those whose (tenant, idempotency key) exists:
 * re-running the step that planned them adds nothing. Results are in input order.
 */
export async function insertDeliveries(
  db: Queryable,
  rows: readonly DeliveryRowInput[],
): Promise<EnqueuedRow[]> {
  if (rows.length === 0) return [];
  const { rows: out } = await db.query<{ ord: string; id: string | null; created: boolean }>(
    `WITH input AS (
       SELECT * FROM ROWS FROM (
         unnest($1::text[]), unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]),
         unnest($5::text[]), unnest($6::bigint[]), unnest($7::text[]),
         jsonb_array_elements($8::jsonb), unnest($9::text[]), unnest($10::int[]),
         unnest($11::bigint[]), unnest($12::bigint[]), unnest($13::bigint[])
       ) WITH ORDINALITY AS t(tenant_id, alert_id, channel, event, recipient, contact_point_id,
                              target_sealed, payload, idempotency_key, max_attempts,
                              created_ms, next_ms, deadline_ms, ord)
     ), ins AS (
       INSERT INTO notification_deliveries
         (tenant_id, alert_id, channel, event, recipient, contact_point_id, target_sealed, payload,
          idempotency_key, max_attempts, created_at, next_attempt_at, deadline)
       SELECT tenant_id, alert_id, channel, event, recipient, contact_point_id, target_sealed,
              payload, idempotency_key, max_attempts,
              timestamptz 'epoch' + created_ms * interval '1 millisecond',
              timestamptz 'epoch' + next_ms * interval '1 millisecond',
              timestamptz 'epoch' + deadline_ms * interval '1 millisecond'
         FROM input ORDER BY ord
       ON CONFLICT ON CONSTRAINT notification_deliveries_idempotency_key DO NOTHING
       RETURNING id, tenant_id, idempotency_key
     )
     SELECT i.ord::text AS ord, coalesce(ins.id, d.id)::text AS id, ins.id IS NOT NULL AS created
       FROM input i
       LEFT JOIN ins ON ins.tenant_id = i.tenant_id AND ins.idempotency_key = i.idempotency_key
       LEFT JOIN notification_deliveries d
              ON d.tenant_id = i.tenant_id AND d.idempotency_key = i.idempotency_key
      ORDER BY i.ord`,
    [
      rows.map((r) => r.tenantId),
      rows.map((r) => r.alertId),
      rows.map((r) => r.channel),
      rows.map((r) => r.event),
      rows.map((r) => r.recipient),
      rows.map((r) => r.contactPointId),
      rows.map((r) => r.targetSealed),
      JSON.stringify(rows.map((r) => r.payload)),
      rows.map((r) => r.idempotencyKey),
      rows.map((r) => r.maxAttempts),
      rows.map((r) => ms(r.createdAt, 'createdAt')),
      rows.map((r) => ms(r.notBefore, 'notBefore')),
      rows.map((r) => ms(r.deadline, 'deadline')),
    ],
  );
  return out.map((r, i) => ({
    id: r.id,
    idempotencyKey: rows[i]!.idempotencyKey,
    created: r.created,
  }));
}

export interface CancelResult {
  /** Pending deliveries now cancelled. */
  readonly cancelled: number;
  /** Deliveries being sent right now: they finish, but will not be retried. */
  readonly inFlight: number;
}

/**
 * Cancels the alert's unfinished deliveries (optionally only those of some events). A row being
 * sent completes its attempt; if that attempt asks for a retry, the row becomes cancelled.
 */
export async function cancelDeliveriesOfAlert(
  db: Queryable,
  alertId: string,
  now: number,
  events?: readonly NotificationEvent[],
): Promise<CancelResult> {
  const { rows } = await db.query<{ was: DeliveryStatus }>(
    `WITH target AS (
       SELECT id, status FROM notification_deliveries
        WHERE alert_id = $1 AND status IN ('pending', 'sending')
          AND ($3::text[] IS NULL OR event = ANY($3))
        FOR UPDATE
     )
     UPDATE notification_deliveries d
        SET status = CASE WHEN t.status = 'pending' THEN 'cancelled' ELSE d.status END,
            finished_at = CASE WHEN t.status = 'pending' THEN ${msParam(2)} ELSE d.finished_at END,
            cancelled_at = ${msParam(2)}
       FROM target t
      WHERE d.id = t.id
      RETURNING t.status AS was`,
    [alertId, ms(now, 'now'), events === undefined ? null : [...events]],
  );
  let cancelled = 0;
  let inFlight = 0;
  for (const r of rows) {
    if (r.was === 'pending') cancelled++;
    else inFlight++;
  }
  return { cancelled, inFlight };
}

// ---------------------------------------------------------------------------------------------
// Dispatching

export interface ClaimOptions {
  readonly now: number;
  readonly node: string;
  readonly leaseMs: number;
  /** Most rows claimed in total. */
  readonly limit: number;
  /** Most consecutive rows of one recipient claimed together (sent one after another). */
  readonly runLength: number;
}

const CLAIMED_COLUMNS = `d.id::text AS id, d.tenant_id, d.alert_id::text AS alert_id, d.channel,
  d.event, d.recipient, d.contact_point_id::text AS contact_point_id, d.target_sealed,
  d.payload::text AS payload, d.idempotency_key, d.attempts, d.max_attempts,
  ${msColumn('d.created_at')} AS created_ms, ${msColumn('d.deadline')} AS deadline_ms,
  ${msColumn('d.lease_until')} AS lease_ms`;

interface ClaimedRow {
  id: string;
  tenant_id: string;
  alert_id: string | null;
  channel: string;
  event: NotificationEvent;
  recipient: string;
  contact_point_id: string | null;
  target_sealed: string;
  payload: string;
  idempotency_key: string;
  attempts: number;
  max_attempts: number;
  created_ms: string;
  deadline_ms: string;
  lease_ms: string;
}

/**
 * Claims due rows in one statement, in runs: for each recipient, up to `runLength` consecutive
 * rows from its oldest unfinished one, provided every one of them is pending and due (a row
 * waiting for a retry, or being sent, holds back the rest of its recipient).
 *
 * Several nodes may claim at once. Rows are locked with SKIP LOCKED, and a locked row is taken
 * only if no older unfinished row of its recipient lies outside this claim, judged on the
 * statement's snapshot: a row another node is claiming at the same moment still looks pending
 * there, so two nodes can never split one recipient's run (and so never reorder it).
 *
 * Each claimed row gets attempts + 1, a lease, and a notification_attempts row ('sending').
 * Returned grouped by recipient, in id order.
 */
export async function claimDue(db: Queryable, options: ClaimOptions): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimedRow>(
    `WITH ranked AS (
       SELECT id, tenant_id, recipient,
              row_number() OVER w AS pos,
              bool_or(status = 'sending' OR next_attempt_at > ${msParam(1)}) OVER w AS blocked,
              first_value(next_attempt_at) OVER w AS head_at
         FROM notification_deliveries
        WHERE status IN ('pending', 'sending')
       WINDOW w AS (PARTITION BY tenant_id, recipient ORDER BY id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     ), candidates AS (
       SELECT id FROM ranked
        WHERE NOT blocked AND pos <= $5
        ORDER BY head_at, tenant_id, recipient, pos
        LIMIT $4
     ), locked AS (
       SELECT d.id FROM notification_deliveries d
        WHERE d.id IN (SELECT id FROM candidates) AND d.status = 'pending'
        FOR UPDATE OF d SKIP LOCKED
     ), claimed AS (
       UPDATE notification_deliveries d
          SET status = 'sending', attempts = d.attempts + 1, claimed_by = $2,
              lease_until = ${msParam(1)} + $3::bigint * interval '1 millisecond'
         FROM locked l
        WHERE d.id = l.id
          AND NOT EXISTS (
            SELECT 1 FROM notification_deliveries e
             WHERE e.tenant_id = d.tenant_id AND e.recipient = d.recipient AND e.id < d.id
               AND e.status IN ('pending', 'sending')
               AND e.id NOT IN (SELECT id FROM locked))
        RETURNING ${CLAIMED_COLUMNS}
     ), attempt AS (
       INSERT INTO notification_attempts (delivery_id, attempt, node, started_at, status)
       SELECT id::bigint, attempts, $2, ${msParam(1)}, 'sending' FROM claimed
     )
     SELECT * FROM claimed ORDER BY tenant_id, recipient, id::bigint`,
    [
      ms(options.now, 'now'),
      options.node,
      Math.max(1, Math.trunc(options.leaseMs)),
      Math.max(0, Math.trunc(options.limit)),
      Math.max(1, Math.trunc(options.runLength)),
    ],
  );
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    alertId: r.alert_id,
    channel: r.channel,
    event: r.event,
    recipient: r.recipient,
    contactPointId: r.contact_point_id,
    targetSealed: r.target_sealed,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    idempotencyKey: r.idempotency_key,
    attempt: r.attempts,
    maxAttempts: r.max_attempts,
    createdAt: Number(r.created_ms),
    deadline: Number(r.deadline_ms),
    leaseUntil: Number(r.lease_ms),
  }));
}

/** Fencing: this node's claim of this attempt still holds. */
const FENCE = `d.id = $1 AND d.status = 'sending' AND d.attempts = $2`;

const ATTEMPT_UPDATE = `UPDATE notification_attempts
          SET started_at = ${msParam(3)}, duration_ms = $4, status = $5, response_code = $6,
              error_code = $7, error = $8
        WHERE delivery_id = $1 AND attempt = $2 AND status = 'sending'`;

function attemptParams(id: string, attempt: number, record: AttemptRecord): unknown[] {
  return [
    id,
    attempt,
    ms(record.startedAt, 'startedAt'),
    Math.max(0, Math.round(record.durationMs)),
    record.status,
    record.responseCode,
    record.errorCode,
    clip(record.error),
  ];
}

export interface DeliveredItem {
  readonly delivery: Pick<ClaimedDelivery, 'id' | 'attempt'>;
  readonly record: AttemptRecord;
  readonly providerId: string | null;
}

/**
 * Attempts that delivered, recorded in one statement (a run's successes are written together).
 * Returns the ids whose claim still held; the others were taken over after their lease expired
 * (their attempt is recorded all the same).
 */
export async function markDelivered(
  db: Queryable,
  items: readonly DeliveredItem[],
  now: number,
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `WITH i AS (
       SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::int[], $5::int[], $6::text[])
         AS i(id, attempt, started_ms, duration_ms, response_code, provider_id)
     ), a AS (
       UPDATE notification_attempts na
          SET started_at = timestamptz 'epoch' + i.started_ms * interval '1 millisecond',
              duration_ms = i.duration_ms, status = 'delivered', response_code = i.response_code,
              error_code = NULL, error = NULL
         FROM i
        WHERE na.delivery_id = i.id AND na.attempt = i.attempt AND na.status = 'sending'
     )
     UPDATE notification_deliveries d
        SET status = 'delivered', lease_until = NULL, provider_id = i.provider_id,
            last_error = NULL, finished_at = ${msParam(7)}
       FROM i
      WHERE d.id = i.id AND d.status = 'sending' AND d.attempts = i.attempt
      RETURNING d.id::text AS id`,
    [
      items.map((x) => x.delivery.id),
      items.map((x) => x.delivery.attempt),
      items.map((x) => ms(x.record.startedAt, 'startedAt')),
      items.map((x) => Math.max(0, Math.round(x.record.durationMs))),
      items.map((x) => x.record.responseCode),
      items.map((x) => x.providerId),
      ms(now, 'now'),
    ],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * The attempt failed and will be retried at `nextAttemptAt` (or the row is cancelled, if a
 * cancel arrived while it was being sent). Returns the row's new status, or undefined when the
 * claim no longer held.
 */
export async function markRetry(
  db: Queryable,
  delivery: Pick<ClaimedDelivery, 'id' | 'attempt'>,
  record: AttemptRecord,
  nextAttemptAt: number,
  now: number,
): Promise<'pending' | 'cancelled' | undefined> {
  const { rows } = await db.query<{ status: 'pending' | 'cancelled' }>(
    `WITH a AS (${ATTEMPT_UPDATE})
     UPDATE notification_deliveries d
        SET status = CASE WHEN d.cancelled_at IS NULL THEN 'pending' ELSE 'cancelled' END,
            finished_at = CASE WHEN d.cancelled_at IS NULL THEN NULL ELSE ${msParam(11)} END,
            lease_until = NULL, claimed_by = NULL, next_attempt_at = ${msParam(9)},
            last_error = $10
      WHERE ${FENCE}
      RETURNING d.status`,
    [
      ...attemptParams(delivery.id, delivery.attempt, record),
      ms(nextAttemptAt, 'nextAttemptAt'),
      clip(record.error),
      ms(now, 'now'),
    ],
  );
  return rows[0]?.status;
}

const FAILED_COLUMNS = `d.id::text AS id, d.tenant_id, d.alert_id::text AS alert_id, d.channel,
  d.event, d.recipient, d.contact_point_id::text AS contact_point_id, d.idempotency_key,
  d.attempts, d.last_error`;

interface FailedRow {
  id: string;
  tenant_id: string;
  alert_id: string | null;
  channel: string;
  event: NotificationEvent;
  recipient: string;
  contact_point_id: string | null;
  idempotency_key: string;
  attempts: number;
  last_error: string | null;
}

const toFailed = (r: FailedRow): FailedDeliveryRow => ({
  id: r.id,
  tenantId: r.tenant_id,
  alertId: r.alert_id,
  channel: r.channel,
  event: r.event,
  recipient: r.recipient,
  contactPointId: r.contact_point_id,
  idempotencyKey: r.idempotency_key,
  attempts: r.attempts,
  lastError: r.last_error,
});

/** Called inside the transaction that marked deliveries failed. */
export type FailedHook = (delivery: FailedDeliveryRow, client: PoolClient) => Promise<void>;

/**
 * Runs `hook` for each failed row inside the transaction, each under a savepoint: a hook that
 * throws is rolled back alone and reported through `onHookError`; the failure stays recorded.
 */
async function runFailedHooks(
  client: PoolClient,
  failed: readonly FailedDeliveryRow[],
  hook: FailedHook | undefined,
  onHookError: (delivery: FailedDeliveryRow, err: unknown) => void,
): Promise<void> {
  if (hook === undefined) return;
  for (const delivery of failed) {
    await client.query('SAVEPOINT gito_on_failed');
    try {
      await hook(delivery, client);
      await client.query('RELEASE SAVEPOINT gito_on_failed');
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT gito_on_failed');
      onHookError(delivery, err);
    }
  }
}

/**
 * The attempt failed for good (permanent error, attempts or age exhausted). Marks the row
 * failed and runs `hook` in the same transaction, so the alert event the hook writes commits
 * together with the failure. Returns undefined when the claim no longer held.
 */
export async function markFailed(
  pool: Pool,
  delivery: Pick<ClaimedDelivery, 'id' | 'attempt'>,
  record: AttemptRecord,
  reason: string,
  now: number,
  hook: FailedHook | undefined,
  onHookError: (delivery: FailedDeliveryRow, err: unknown) => void,
): Promise<FailedDeliveryRow | undefined> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<FailedRow>(
      `WITH a AS (${ATTEMPT_UPDATE})
       UPDATE notification_deliveries d
          SET status = 'failed', lease_until = NULL, last_error = $9,
              finished_at = ${msParam(10)}
        WHERE ${FENCE}
        RETURNING ${FAILED_COLUMNS}`,
      [...attemptParams(delivery.id, delivery.attempt, record), clip(reason), ms(now, 'now')],
    );
    const failed = rows.map(toFailed);
    await runFailedHooks(client, failed, hook, onHookError);
    return failed[0];
  });
}

/**
 * Gives claimed rows back unattempted (rate limited, or the rest of a run after a failure):
 * pending again at `nextAttemptAt`, the attempt uncounted and its record removed.
 */
export async function releaseClaims(
  db: Queryable,
  claims: readonly Pick<ClaimedDelivery, 'id' | 'attempt'>[],
  nextAttemptAt: number,
): Promise<number> {
  if (claims.length === 0) return 0;
  const { rowCount } = await db.query(
    `WITH c AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS c(id, attempt)),
     released AS (
       UPDATE notification_deliveries d
          SET status = 'pending', attempts = d.attempts - 1, lease_until = NULL, claimed_by = NULL,
              next_attempt_at = greatest(d.next_attempt_at, ${msParam(3)})
         FROM c
        WHERE d.id = c.id AND d.status = 'sending' AND d.attempts = c.attempt
        RETURNING d.id, c.attempt
     )
     DELETE FROM notification_attempts a USING released r
      WHERE a.delivery_id = r.id AND a.attempt = r.attempt AND a.status = 'sending'`,
    [claims.map((c) => c.id), claims.map((c) => c.attempt), ms(nextAttemptAt, 'nextAttemptAt')],
  );
  return rowCount ?? 0;
}

export interface HousekeepingResult {
  /** 'sending' rows whose lease expired, made pending again (attempt recorded 'abandoned'). */
  readonly reclaimed: number;
  /** Pending rows failed: max attempts used up (by lost attempts) or past their deadline. */
  readonly failed: readonly FailedDeliveryRow[];
  /** Pending rows whose cancel arrived while they were being sent by a node that died. */
  readonly cancelled: number;
}

/**
 * Reclaims expired leases (a node died or stalled mid-send), then ends pending rows that may
 * not be attempted any more: failed past their deadline or attempts, cancelled if a cancel
 * came in meanwhile. One transaction; `hook` runs for each failed row as in markFailed.
 */
export async function housekeep(
  pool: Pool,
  now: number,
  hook: FailedHook | undefined,
  onHookError: (delivery: FailedDeliveryRow, err: unknown) => void,
): Promise<HousekeepingResult> {
  const at = ms(now, 'now');
  return inTransaction(pool, async (client) => {
    const reclaimed = await client.query(
      `WITH lost AS (
         UPDATE notification_deliveries d
            SET status = 'pending', lease_until = NULL, claimed_by = NULL,
                next_attempt_at = ${msParam(1)},
                last_error = 'attempt abandoned: the sending node stopped before recording it'
          WHERE d.status = 'sending' AND d.lease_until < ${msParam(1)}
          RETURNING d.id, d.attempts
       )
       UPDATE notification_attempts a
          SET status = 'abandoned',
              error = 'lease expired: the sending node stopped or stalled before recording the outcome'
         FROM lost
        WHERE a.delivery_id = lost.id AND a.attempt = lost.attempts AND a.status = 'sending'
       RETURNING a.delivery_id`,
      [at],
    );
    const cancelled = await client.query(
      `UPDATE notification_deliveries
          SET status = 'cancelled', finished_at = ${msParam(1)}
        WHERE status = 'pending' AND cancelled_at IS NOT NULL`,
      [at],
    );
    const { rows } = await client.query<FailedRow>(
      `UPDATE notification_deliveries d
          SET status = 'failed', finished_at = ${msParam(1)},
              last_error = CASE WHEN d.attempts >= d.max_attempts
                THEN 'max attempts reached (' || d.attempts || '); last: ' || coalesce(d.last_error, '-')
                ELSE 'max age reached before it could be sent; last: ' || coalesce(d.last_error, '-')
              END
        WHERE d.status = 'pending' AND (d.deadline <= ${msParam(1)} OR d.attempts >= d.max_attempts)
        RETURNING ${FAILED_COLUMNS}`,
      [at],
    );
    const failed = rows.map(toFailed);
    await runFailedHooks(client, failed, hook, onHookError);
    return { reclaimed: reclaimed.rowCount ?? 0, failed, cancelled: cancelled.rowCount ?? 0 };
  });
}

/** Earliest next_attempt_at of a pending row (ms), or undefined: when to look again. */
export async function nextDueAt(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ at: string | null }>(
    `SELECT ${msColumn('min(next_attempt_at)')} AS at FROM notification_deliveries
      WHERE status = 'pending'`,
  );
  const at = rows[0]?.at;
  return at === null || at === undefined ? undefined : Number(at);
}

/**
 * Deletes finished deliveries (delivered, failed, cancelled) that finished before `before`, with
 * their attempts, at most `limit` per call (call again while it returns `limit`). Run daily.
 */
export async function purgeFinishedDeliveries(
  db: Queryable,
  before: number,
  limit = 10_000,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM notification_deliveries
      WHERE id IN (SELECT id FROM notification_deliveries
                    WHERE finished_at < ${msParam(1)}
                      AND status IN ('delivered', 'failed', 'cancelled')
                    LIMIT $2)`,
    [ms(before, 'before'), Math.max(1, Math.trunc(limit))],
  );
  return rowCount ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Reading

const VIEW_COLUMNS = `id::text AS id, tenant_id, alert_id::text AS alert_id, channel, event,
  recipient, contact_point_id::text AS contact_point_id, payload::text AS payload,
  idempotency_key, status, attempts, max_attempts,
  ${msColumn('next_attempt_at')} AS next_ms, ${msColumn('deadline')} AS deadline_ms,
  provider_id, last_error, ${msColumn('created_at')} AS created_ms,
  ${msColumn('finished_at')} AS finished_ms, cancelled_at IS NOT NULL AS cancelled`;

interface ViewRow {
  id: string;
  tenant_id: string;
  alert_id: string | null;
  channel: string;
  event: NotificationEvent;
  recipient: string;
  contact_point_id: string | null;
  payload: string;
  idempotency_key: string;
  status: DeliveryStatus;
  attempts: number;
  max_attempts: number;
  next_ms: string;
  deadline_ms: string;
  provider_id: string | null;
  last_error: string | null;
  created_ms: string;
  finished_ms: string | null;
  cancelled: boolean;
}

const toView = (r: ViewRow): DeliveryView => ({
  id: r.id,
  tenantId: r.tenant_id,
  alertId: r.alert_id,
  channel: r.channel,
  event: r.event,
  recipient: r.recipient,
  contactPointId: r.contact_point_id,
  payload: JSON.parse(r.payload) as Record<string, unknown>,
  idempotencyKey: r.idempotency_key,
  status: r.status,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  nextAttemptAt: Number(r.next_ms),
  deadline: Number(r.deadline_ms),
  providerId: r.provider_id,
  lastError: r.last_error,
  createdAt: Number(r.created_ms),
  finishedAt: r.finished_ms === null ? null : Number(r.finished_ms),
  cancelled: r.cancelled,
});

export async function getDelivery(db: Queryable, id: string): Promise<DeliveryView | undefined> {
  const { rows } = await db.query<ViewRow>(
    `SELECT ${VIEW_COLUMNS} FROM notification_deliveries WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? undefined : toView(rows[0]);
}

/** A tenant's deliveries, newest first; optionally of one alert. */
export async function listDeliveries(
  db: Queryable,
  tenantId: string,
  options: { alertId?: string; limit?: number } = {},
): Promise<DeliveryView[]> {
  const { rows } = await db.query<ViewRow>(
    `SELECT ${VIEW_COLUMNS} FROM notification_deliveries
      WHERE tenant_id = $1 AND ($2::bigint IS NULL OR alert_id = $2)
      ORDER BY id DESC LIMIT $3`,
    [tenantId, options.alertId ?? null, Math.min(Math.max(options.limit ?? 100, 1), 1000)],
  );
  return rows.map(toView);
}

export async function listAttempts(db: Queryable, deliveryId: string): Promise<AttemptView[]> {
  const { rows } = await db.query<{
    delivery_id: string;
    attempt: number;
    node: string;
    started_ms: string;
    duration_ms: number | null;
    status: AttemptStatus;
    response_code: number | null;
    error_code: string | null;
    error: string | null;
  }>(
    `SELECT delivery_id::text AS delivery_id, attempt, node, ${msColumn('started_at')} AS started_ms,
            duration_ms, status, response_code, error_code, error
       FROM notification_attempts WHERE delivery_id = $1 ORDER BY attempt`,
    [deliveryId],
  );
  return rows.map((r) => ({
    deliveryId: r.delivery_id,
    attempt: r.attempt,
    node: r.node,
    startedAt: Number(r.started_ms),
    durationMs: r.duration_ms,
    status: r.status,
    responseCode: r.response_code,
    errorCode: r.error_code,
    error: r.error,
  }));
}
