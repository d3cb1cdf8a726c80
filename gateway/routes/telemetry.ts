import { Type } from '@sinclair/typebox';
import { MAX_CLOCK_AHEAD_MS } from '../../actors/ingest/payload.ts';
import { getDevice } from '../../db/gateway/devices.ts';
import { aggregateTelemetry, listTelemetry } from '../../db/gateway/telemetry.ts';
import { authOf } from '../auth/hooks.ts';
import { decodeCursor, encodeCursor, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { invalid, notFound } from '../http/problem.ts';
import { IdParams, responses, Timestamp } from '../http/schemas.ts';
import type { ApiContext, ApiResource } from './context.ts';

const DAY_MS = 86_400_000;
const MetricName = Type.String({ minLength: 1, maxLength: 128 });

const RangeQuery = {
  from: Type.Optional({ ...Timestamp, description: 'Start (inclusive); default: 24 h ago' }),
  to: Type.Optional({
    ...Timestamp,
    description:
      'End (exclusive); default: now, plus the day of clock skew ingestion accepts from devices',
  }),
};

const RawQuery = Type.Object(
  {
    ...PageQuery,
    ...RangeQuery,
    metric: Type.Optional(
      Type.Array(MetricName, { maxItems: 50, description: 'Repeat to keep only these metrics' }),
    ),
  },
  { additionalProperties: false },
);

const BUCKET_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };
const MAX_BUCKETS_PER_PAGE = 1_000;

const AggregateQuery = Type.Object(
  {
    ...RangeQuery,
    bucket: Type.String({
      pattern: '^[1-9][0-9]{0,5}[smhd]$',
      description: 'Bucket width: 30s, 5m, 1h, 1d ... (buckets are aligned to the Unix epoch)',
    }),
    metric: Type.Array(MetricName, { minItems: 1, maxItems: 20 }),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_BUCKETS_PER_PAGE,
        default: 100,
        description: 'Buckets per page (a page covers `limit` bucket widths of time)',
      }),
    ),
    cursor: PageQuery.cursor,
  },
  { additionalProperties: false },
);

const MetricValue = Type.Union([Type.Number(), Type.String(), Type.Boolean()]);

const Point = Type.Object({ ts: Timestamp, metrics: Type.Record(Type.String(), MetricValue) });

const Bucket = Type.Object({
  start: Timestamp,
  metrics: Type.Record(
    Type.String(),
    Type.Object({
      min: Type.Number(),
      avg: Type.Number(),
      max: Type.Number(),
      count: Type.Integer(),
    }),
  ),
});

function range(ctx: ApiContext, q: { from?: string; to?: string }): { from: Date; to: Date } {
  const now = ctx.now();
  // Devices may stamp readings up to a day ahead of our clock; "until now" must include them.
  const to = q.to === undefined ? new Date(now + MAX_CLOCK_AHEAD_MS + 1) : new Date(q.to);
  const from = q.from === undefined ? new Date(now - DAY_MS) : new Date(q.from);
  if (from.getTime() >= to.getTime()) throw invalid('query.from', 'must be before query.to');
  return { from, to };
}

async function deviceOf(ctx: ApiContext, tenantId: string, id: string) {
  const device = await getDevice(ctx.pool, tenantId, id);
  if (device === undefined) throw notFound('device', id);
  return device;
}

const isBefore = (v: unknown): v is { before: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { before?: unknown }).before === 'string' &&
  /^-?[0-9]{1,19}$/.test((v as { before: string }).before);

const isStart = (v: unknown): v is { start: number } =>
  typeof v === 'object' && v !== null && Number.isSafeInteger((v as { start?: unknown }).start);

export const telemetryResource: ApiResource = {
  tag: 'telemetry',
  description: 'Telemetry history: raw readings and bucketed aggregates over a time range',
  routes(app, ctx) {
    app.get(
      '/devices/:id/telemetry',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Raw readings in [from, to), newest first',
          params: IdParams,
          querystring: RawQuery,
          response: responses({ 200: Page(Point) }),
        },
      },
      async (request) => {
        const device = await deviceOf(ctx, authOf(request).tenantId, request.params.id);
        const q = request.query;
        const { from, to } = range(ctx, q);
        const before = q.cursor === undefined ? undefined : decodeCursor(q.cursor, isBefore).before;
        const page = await listTelemetry(ctx.pool, device.id, {
          from,
          to,
          before,
          metrics: q.metric,
          limit: pageSize(q),
        });
        return {
          items: page.items,
          nextCursor:
            page.more && page.last !== undefined ? encodeCursor({ before: page.last }) : null,
        };
      },
    );

    app.get(
      '/devices/:id/telemetry/aggregate',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'min/avg/max/count of numeric metrics per time bucket, oldest first',
          description:
            'Each page covers `limit` bucket widths of time; buckets without numeric readings ' +
            'are omitted, so a page may hold fewer items (even none) while nextCursor is set.',
          params: IdParams,
          querystring: AggregateQuery,
          response: responses({ 200: Page(Bucket) }),
        },
      },
      async (request) => {
        const device = await deviceOf(ctx, authOf(request).tenantId, request.params.id);
        const q = request.query;
        const { from, to } = range(ctx, q);
        const unit = q.bucket.slice(-1);
        const bucketSeconds = Number(q.bucket.slice(0, -1)) * BUCKET_UNITS[unit]!;
        if (bucketSeconds > 366 * 86_400) throw invalid('query.bucket', 'must be at most 366d');
        const bucketMs = bucketSeconds * 1000;
        const start =
          q.cursor === undefined ? from.getTime() : decodeCursor(q.cursor, isStart).start;
        // The page's window: `limit` buckets from the (epoch-aligned) bucket holding start.
        const windowEnd = Math.min(
          to.getTime(),
          Math.floor(start / bucketMs) * bucketMs + (q.limit ?? 100) * bucketMs,
        );
        const items =
          start >= windowEnd
            ? []
            : await aggregateTelemetry(ctx.pool, device.id, {
                from: new Date(start),
                to: new Date(windowEnd),
                bucketSeconds,
                metrics: q.metric,
              });
        return {
          items,
          nextCursor: windowEnd < to.getTime() ? encodeCursor({ start: windowEnd }) : null,
        };
      },
    );
  },
};
