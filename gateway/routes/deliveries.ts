import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import {
  type AttemptView,
  type DeliveryView,
  getDelivery,
  listAttempts,
} from '../../db/notify/deliveries.ts';
import { msColumn } from '../../db/notify/sql.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { notFound } from '../http/problem.ts';
import { Id, IdParams, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';

const STATUSES = ['pending', 'sending', 'delivered', 'failed', 'cancelled'] as const;
type Status = (typeof STATUSES)[number];

const Status = Type.Union(
  STATUSES.map((s) => Type.Literal(s)),
  { description: 'Delivery status' },
);

/** A delivery as the log shows it. The sealed target is never read, let alone returned. */
const DeliverySchema = Type.Object({
  id: Id,
  alertId: Nullable(Id),
  channel: Type.String(),
  event: Type.String(),
  recipient: Type.String({ description: 'Ordering key of the destination (hashed for URLs)' }),
  contactPointId: Nullable(Id),
  status: Status,
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  nextAttemptAt: Timestamp,
  deadline: Timestamp,
  providerId: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  finishedAt: Nullable(Timestamp),
  cancelled: Type.Boolean(),
});

const AttemptSchema = Type.Object({
  attempt: Type.Integer(),
  node: Type.String(),
  startedAt: Timestamp,
  durationMs: Nullable(Type.Integer()),
  status: Type.String(),
  responseCode: Nullable(Type.Integer()),
  errorCode: Nullable(Type.String()),
  error: Nullable(Type.String()),
});

const DeliveryDetailSchema = Type.Object({
  ...DeliverySchema.properties,
  payload: Type.Object({}, { additionalProperties: true, description: 'The rendered message' }),
  attemptLog: Type.Array(AttemptSchema, { description: 'Every attempt, oldest first' }),
});

const iso = (ms: number) => new Date(ms).toISOString();

type Summary = Omit<DeliveryView, 'tenantId' | 'payload' | 'idempotencyKey'>;

function show(d: Summary) {
  return {
    id: d.id,
    alertId: d.alertId,
    channel: d.channel,
    event: d.event,
    recipient: d.recipient,
    contactPointId: d.contactPointId,
    status: d.status,
    attempts: d.attempts,
    maxAttempts: d.maxAttempts,
    nextAttemptAt: iso(d.nextAttemptAt),
    deadline: iso(d.deadline),
    providerId: d.providerId,
    lastError: d.lastError,
    createdAt: iso(d.createdAt),
    finishedAt: d.finishedAt === null ? null : iso(d.finishedAt),
    cancelled: d.cancelled,
  };
}

const showAttempt = (a: AttemptView) => ({
  attempt: a.attempt,
  node: a.node,
  startedAt: iso(a.startedAt),
  durationMs: a.durationMs,
  status: a.status,
  responseCode: a.responseCode,
  errorCode: a.errorCode,
  error: a.error,
});

interface Filter {
  readonly alertId?: string | undefined;
  readonly status?: Status | undefined;
  readonly channel?: string | undefined;
  /** Ids below this one (newest first). */
  readonly beforeId?: string | undefined;
  readonly limit: number;
}

/**
 * A page of the tenant's deliveries, newest first, read with limit + 1. (db/notify's
 * listDeliveries has no status/channel filter nor cursor, and reads the payload of each row.)
 */
async function listDeliveryPage(
  pool: Pool,
  tenantId: string,
  f: Filter,
): Promise<{ items: Summary[]; more: boolean }> {
  const { rows } = await pool.query<{
    id: string;
    alert_id: string | null;
    channel: string;
    event: DeliveryView['event'];
    recipient: string;
    contact_point_id: string | null;
    status: Status;
    attempts: number;
    max_attempts: number;
    next_ms: string;
    deadline_ms: string;
    provider_id: string | null;
    last_error: string | null;
    created_ms: string;
    finished_ms: string | null;
    cancelled: boolean;
  }>(
    `SELECT id::text AS id, alert_id::text AS alert_id, channel, event, recipient,
            contact_point_id::text AS contact_point_id, status, attempts, max_attempts,
            ${msColumn('next_attempt_at')} AS next_ms, ${msColumn('deadline')} AS deadline_ms,
            provider_id, last_error, ${msColumn('created_at')} AS created_ms,
            ${msColumn('finished_at')} AS finished_ms, cancelled_at IS NOT NULL AS cancelled
       FROM notification_deliveries
      WHERE tenant_id = $1
        AND ($2::bigint IS NULL OR alert_id = $2)
        AND ($3::text IS NULL OR status = $3)
        AND ($4::text IS NULL OR channel = $4)
        AND ($5::bigint IS NULL OR id < $5)
      ORDER BY id DESC
      LIMIT $6`,
    [
      tenantId,
      f.alertId ?? null,
      f.status ?? null,
      f.channel ?? null,
      f.beforeId ?? null,
      f.limit + 1,
    ],
  );
  const items = rows.slice(0, f.limit).map((r) => ({
    id: r.id,
    alertId: r.alert_id,
    channel: r.channel,
    event: r.event,
    recipient: r.recipient,
    contactPointId: r.contact_point_id,
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
  }));
  return { items, more: rows.length > f.limit };
}

export const deliveriesResource: ApiResource = {
  tag: 'deliveries',
  description: 'The notification delivery log: each message, its status and every attempt',
  routes(app, ctx) {
    app.get(
      '/deliveries',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List deliveries, newest first',
          querystring: Type.Object(
            {
              ...PageQuery,
              alert: Type.Optional(Id),
              status: Type.Optional(Status),
              channel: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' })),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(DeliverySchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        const page = await listDeliveryPage(ctx.pool, authOf(request).tenantId, {
          alertId: q.alert,
          status: q.status,
          channel: q.channel,
          beforeId: afterId(q),
          limit: pageSize(q),
        });
        return idPage({ items: page.items.map(show), more: page.more });
      },
    );

    app.get(
      '/deliveries/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a delivery with its rendered message and every attempt',
          params: IdParams,
          response: responses({ 200: DeliveryDetailSchema }),
        },
      },
      async (request) => {
        const delivery = await getDelivery(ctx.pool, request.params.id);
        if (delivery === undefined || delivery.tenantId !== authOf(request).tenantId) {
          throw notFound('delivery', request.params.id);
        }
        const attempts = await listAttempts(ctx.pool, delivery.id);
        return {
          ...show(delivery),
          payload: { ...delivery.payload },
          attemptLog: attempts.map(showAttempt),
        };
      },
    );
  },
};
