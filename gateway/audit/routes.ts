import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import {
  ACTOR_KINDS,
  AUDIT_OUTCOMES,
  type AuditFilter,
  type AuditRecord,
  csvHeader,
  csvLine,
  exportAudit,
  jsonLine,
  searchAudit,
  setAuditRetention,
  verifyAuditChain,
} from '../../db/audit/index.ts';
import { authOf } from '../auth/hooks.ts';
import { decodeCursor, encodeCursor, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { invalid, notFound } from '../http/problem.ts';
import { Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from '../routes/context.ts';

const literals = <T extends string>(values: readonly T[]) =>
  Type.Union(values.map((v) => Type.Literal(v)));

const FilterQuery = {
  actorKind: Type.Optional(literals(ACTOR_KINDS)),
  actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  action: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: "Exact action, or a prefix ending in '*' ('rule.*')",
    }),
  ),
  resourceType: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  resourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  outcome: Type.Optional(literals(AUDIT_OUTCOMES)),
  from: Type.Optional({ ...Timestamp, description: 'Records at or after this time' }),
  to: Type.Optional({ ...Timestamp, description: 'Records before this time' }),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Free text: case-insensitive substring of action, resource, actor or diff',
    }),
  ),
};

const SearchQuery = Type.Object({ ...FilterQuery, ...PageQuery }, { additionalProperties: false });
const ExportQuery = Type.Object(
  {
    ...FilterQuery,
    format: Type.Optional(
      Type.Union([Type.Literal('csv'), Type.Literal('jsonl')], { default: 'jsonl' }),
    ),
  },
  { additionalProperties: false },
);

export const AuditRecordSchema = Type.Object(
  {
    tenantId: Type.String(),
    seq: Type.Integer({ description: 'Position in the tenant chain, from 1' }),
    at: Timestamp,
    actor: Type.Object({
      kind: literals(ACTOR_KINDS),
      id: Nullable(Type.String()),
      display: Nullable(Type.String()),
    }),
    action: Type.String(),
    resource: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
    diff: Nullable(
      Type.Object(
        {
          before: Type.Optional(Type.Unknown()),
          after: Type.Optional(Type.Unknown()),
          changed: Type.Optional(Type.Array(Type.String())),
          truncated: Type.Optional(Type.Object({ bytes: Type.Integer(), sha256: Type.String() })),
        },
        { description: 'Before and after, secrets redacted' },
      ),
    ),
    requestId: Nullable(Type.String()),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    result: Type.Object({
      status: Nullable(Type.Integer()),
      outcome: literals(AUDIT_OUTCOMES),
    }),
    prevHash: Type.String(),
    hash: Type.String(),
    pseudonymisedBy: Nullable(
      Type.Integer({ description: 'seq of the erasure that pseudonymised this record' }),
    ),
  },
  { $id: 'AuditRecord' },
);

const VerifySchema = Type.Object({
  tenantId: Type.String(),
  ok: Type.Boolean(),
  records: Type.Integer(),
  firstSeq: Nullable(Type.Integer()),
  lastSeq: Nullable(Type.Integer()),
  head: Type.Object({ seq: Type.Integer(), hash: Type.String() }),
  anchor: Type.Object({ seq: Type.Integer(), hash: Type.String() }),
  pseudonymised: Type.Integer(),
  broken: Nullable(
    Type.Object({
      seq: Type.Integer({ description: 'The first record that does not verify' }),
      reason: Type.String(),
    }),
  ),
});

const Retention = Type.Object(
  {
    days: Nullable(
      Type.Integer({ minimum: 1, maximum: 36_500, description: 'null keeps records forever' }),
    ),
  },
  { additionalProperties: false },
);

type SeqCursor = { before: number };
const isSeqCursor = (v: unknown): v is SeqCursor =>
  typeof v === 'object' &&
  v !== null &&
  Number.isSafeInteger((v as SeqCursor).before) &&
  (v as SeqCursor).before > 0;

function filterOf(query: Static<typeof SearchQuery> | Static<typeof ExportQuery>): AuditFilter {
  const from = query.from === undefined ? undefined : Date.parse(query.from);
  const to = query.to === undefined ? undefined : Date.parse(query.to);
  if (from !== undefined && to !== undefined && from >= to) {
    throw invalid('query.to', 'must be after query.from');
  }
  return {
    actorKind: query.actorKind,
    actorId: query.actorId,
    action: query.action,
    resourceType: query.resourceType,
    resourceId: query.resourceId,
    outcome: query.outcome,
    from,
    to,
    text: query.q,
  };
}

async function* exportLines(
  records: AsyncIterable<AuditRecord>,
  format: 'csv' | 'jsonl',
): AsyncGenerator<string> {
  if (format === 'csv') yield csvHeader();
  for await (const record of records) yield format === 'csv' ? csvLine(record) : jsonLine(record);
}

/** The audit log of the caller's tenant: search, export, chain verification, retention. */
export const auditResource: ApiResource = {
  tag: 'audit',
  description: 'The audit log: every change, hash-chained per tenant (docs/audit-and-gdpr.md)',
  routes(app, ctx) {
    app.addSchema(AuditRecordSchema);

    app.get(
      '/audit',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Search audit records, newest first',
          querystring: SearchQuery,
          response: responses({ 200: Page(Type.Ref(AuditRecordSchema)) }),
        },
      },
      async (request) => {
        const query = request.query;
        const before =
          query.cursor === undefined ? undefined : decodeCursor(query.cursor, isSeqCursor).before;
        const page = await searchAudit(ctx.pool, authOf(request).tenantId, filterOf(query), {
          limit: pageSize(query),
          beforeSeq: before,
        });
        return {
          items: page.records,
          nextCursor:
            page.nextBeforeSeq === null ? null : encodeCursor({ before: page.nextBeforeSeq }),
        };
      },
    );

    app.get(
      '/audit/export',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Export audit records in chain order as CSV or JSON lines (streamed)',
          querystring: ExportQuery,
          response: responses({
            200: Type.String({
              description: 'text/csv, or application/x-ndjson (one record a line)',
            }),
          }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const format = request.query.format ?? 'jsonl';
        const records = exportAudit(ctx.pool, tenantId, filterOf(request.query));
        const stamp = new Date(ctx.now()).toISOString().slice(0, 10);
        return reply
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
          .header(
            'content-disposition',
            `attachment; filename="audit-${tenantId}-${stamp}.${format === 'csv' ? 'csv' : 'jsonl'}"`,
          )
          .send(Readable.from(exportLines(records, format)));
      },
    );

    app.get(
      '/audit/verify',
      {
        config: { role: 'admin' },
        schema: {
          summary: "Verify the tenant's hash chain and report the first broken link",
          response: responses({ 200: VerifySchema }),
        },
      },
      async (request) => verifyAuditChain(ctx.pool, authOf(request).tenantId),
    );

    app.put(
      '/audit/retention',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Set how long audit records are kept (days; null = forever)',
          body: Retention,
          response: responses({ 200: Retention }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const { rows } = await ctx.pool.query<{ days: number | null }>(
          'SELECT audit_retention_days AS days FROM tenants WHERE id = $1',
          [tenantId],
        );
        if (rows[0] === undefined) throw notFound('tenant', tenantId);
        await setAuditRetention(ctx.pool, tenantId, request.body.days);
        request.audit = {
          action: 'audit.retention.update',
          resourceType: 'tenant',
          resourceId: tenantId,
          before: { auditRetentionDays: rows[0].days },
          after: { auditRetentionDays: request.body.days },
        };
        return { days: request.body.days };
      },
    );
  },
};
