import { Type } from '@sinclair/typebox';
import { listTenantDeadLetters } from '../../db/gateway/dead-letters.ts';
import { authOf } from '../auth/hooks.ts';
import { decodeCursor, encodeCursor, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { invalid, ProblemError } from '../http/problem.ts';
import { Id, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';

const ClusterStatus = Type.Object({
  epoch: Type.Integer({ description: 'Topology version' }),
  nodes: Type.Array(
    Type.Object({
      id: Type.String(),
      address: Nullable(Type.String()),
      actors: Nullable(Type.Integer()),
      settled: Nullable(Type.Boolean()),
      byKind: Type.Record(Type.String(), Type.Integer(), { description: 'Active actors by kind' }),
    }),
  ),
});

const DeadLetter = Type.Object({
  id: Id,
  actor: Type.String(),
  messageType: Type.String(),
  message: Type.Optional(Type.Unknown({ description: 'The message, as JSON' })),
  attempts: Type.Integer(),
  error: Type.String(),
  reason: Type.String(),
  failedAt: Timestamp,
});

const DeadLetterQuery = Type.Object(
  {
    ...PageQuery,
    kind: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' })),
    actor: Type.Optional(Type.String({ minLength: 3, maxLength: 512 })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

const isPosition = (v: unknown): v is { us: string; id: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { us?: unknown }).us === 'string' &&
  /^-?[0-9]{1,19}$/.test((v as { us: string }).us) &&
  typeof (v as { id?: unknown }).id === 'string' &&
  /^[0-9]{1,19}$/.test((v as { id: string }).id);

/**
 * For operators. Cluster status holds no tenant data (node ids, counts); dead letters are those
 * of the caller's tenant's actors only.
 */
export const operatorsResource: ApiResource = {
  tag: 'operators',
  description: 'Cluster status and dead letters, for operators',
  routes(app, ctx) {
    app.get(
      '/cluster/status',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Members, epoch, and actors per node and kind',
          response: responses({ 200: ClusterStatus }),
        },
      },
      async () => {
        const status = ctx.deps.clusterStatus;
        if (status === undefined) {
          throw new ProblemError(503, 'unavailable', 'cluster status is not available here');
        }
        return status();
      },
    );

    app.get(
      '/dead-letters',
      {
        config: { role: 'operator' },
        schema: {
          summary: "Messages the tenant's actors failed to process, newest first",
          querystring: DeadLetterQuery,
          response: responses({ 200: Page(DeadLetter) }),
        },
      },
      async (request) => {
        const q = request.query;
        const from = q.from === undefined ? undefined : new Date(q.from);
        const to = q.to === undefined ? undefined : new Date(q.to);
        if (from !== undefined && to !== undefined && from >= to) {
          throw invalid('query.from', 'must be before query.to');
        }
        const page = await listTenantDeadLetters(ctx.pool, authOf(request).tenantId, {
          kind: q.kind,
          actor: q.actor,
          reason: q.reason,
          from,
          to,
          before: q.cursor === undefined ? undefined : decodeCursor(q.cursor, isPosition),
          limit: pageSize(q),
        });
        return {
          items: page.items,
          nextCursor: page.more && page.last !== undefined ? encodeCursor(page.last) : null,
        };
      },
    );
  },
};
