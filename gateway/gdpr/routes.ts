import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { authOf } from '../auth/hooks.ts';
import { conflict, forbidden, notFound } from '../http/problem.ts';
import { IdParams, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from '../routes/context.ts';
import { AlreadyErasedError, type EraseOptions, eraseUser } from './erase.ts';
import { userExport } from './export.ts';

const ErasureSchema = Type.Object({
  userId: Type.String(),
  pseudonym: Type.String({ description: 'Replaces the person in history and in the audit log' }),
  erasedAt: Timestamp,
  auditSeq: Type.Integer({ description: "seq of the erasure's own audit record" }),
  removed: Type.Record(Type.String(), Type.Integer(), { description: 'Rows deleted per table' }),
  scrubbed: Type.Record(Type.String(), Type.Integer(), {
    description: 'Rows where the email, phone or name was replaced, per table.column',
  }),
  pseudonymisedRecords: Type.Integer(),
  unscanned: Type.Array(Type.String(), {
    description: 'Tables that could not be scanned (no tenant to tell rows apart)',
  }),
});

/** GDPR: export everything held about a user; erase a user's personal data. */
export function gdprResource(options: EraseOptions = {}): ApiResource {
  return {
    tag: 'gdpr',
    description: "Data subject rights: a user's data export and erasure (docs/audit-and-gdpr.md)",
    routes(app, ctx) {
      app.get(
        '/users/:id/export',
        {
          config: { role: 'admin' },
          schema: {
            summary: 'Export everything held about a user as one JSON document (streamed)',
            params: IdParams,
            response: responses({
              200: Type.String({
                description: 'application/json document (format gito.user-export.v1)',
              }),
            }),
          },
        },
        async (request, reply) => {
          const tenantId = authOf(request).tenantId;
          const id = request.params.id;
          const document = await userExport(ctx.pool, tenantId, id, ctx.now());
          if (document === undefined) throw notFound('user', id);
          return reply
            .type('application/json; charset=utf-8')
            .header('content-disposition', `attachment; filename="user-${id}-export.json"`)
            .send(Readable.from(document));
        },
      );

      app.post(
        '/users/:id/erase',
        {
          config: { role: 'admin' },
          schema: {
            summary: "Erase a user's personal data everywhere and pseudonymise their audit records",
            params: IdParams,
            response: responses({ 200: ErasureSchema }),
          },
        },
        async (request) => {
          const auth = authOf(request);
          const id = request.params.id;
          if (auth.principal.kind === 'user' && auth.principal.id === id) {
            throw forbidden('you cannot erase yourself: ask another admin');
          }
          const userAgent = request.headers['user-agent'];
          try {
            const result = await eraseUser(
              ctx.pool,
              {
                tenantId: auth.tenantId,
                userId: id,
                by: {
                  kind: auth.principal.kind,
                  id: auth.principal.id,
                  display: auth.principal.display,
                },
                requestId: String(request.id),
                ip: request.ip,
                ...(typeof userAgent === 'string' ? { userAgent } : {}),
                now: ctx.now(),
              },
              options,
            );
            if (result === undefined) throw notFound('user', id);
            // The erasure wrote its own record, in its transaction.
            request.auditWritten = true;
            ctx.authenticator.forgetUser(auth.tenantId, id);
            return result;
          } catch (err) {
            if (err instanceof AlreadyErasedError) throw conflict(err.message);
            throw err;
          }
        },
      );
    },
  };
}
