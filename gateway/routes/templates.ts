import { Type } from '@sinclair/typebox';
import { CHANNEL_NAMES } from '../../actors/notify/channels/registry.ts';
import {
  TemplateValidationError,
  validateTemplateOverride,
} from '../../actors/notify/templates/templates.ts';
import { SEVERITIES } from '../../actors/notify/types.ts';
import { NOTIFICATION_EVENTS } from '../../db/notify/deliveries.ts';
import {
  deleteTemplateOverride,
  listTemplateOverrides,
  type TemplateOverride,
  type TemplateOverrideInput,
  upsertTemplateOverride,
} from '../../db/notify/templates.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, NoContent, responses } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';

const TemplateSchema = Type.Object({
  id: Id,
  channel: Type.String(),
  event: Type.String({ description: "'*' or firing, acknowledged, resolved" }),
  severity: Type.String({ description: "'*' or an alert severity" }),
  title: Type.String(),
  body: Type.String(),
});

const Text = Type.String({ maxLength: 16_384 });

/** Known values are checked by validateTemplateOverride, so its message names the field. */
const TemplateBody = Type.Object(
  {
    channel: Type.String({ minLength: 1, maxLength: 32, description: CHANNEL_NAMES.join(', ') }),
    event: Type.Optional(
      Type.String({ maxLength: 32, description: `*, ${NOTIFICATION_EVENTS.join(', ')}` }),
    ),
    severity: Type.Optional(
      Type.String({ maxLength: 32, description: `*, ${SEVERITIES.join(', ')}` }),
    ),
    title: Type.Optional(Text),
    body: Text,
  },
  { additionalProperties: false },
);

const show = (t: TemplateOverride) => ({
  id: t.id,
  channel: t.channel,
  event: t.event,
  severity: t.severity,
  title: t.title,
  body: t.body,
});

const byId = (x: { id: string }, y: { id: string }) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1);

export const templatesResource: ApiResource = {
  tag: 'templates',
  description:
    "The tenant's message templates, replacing the built-in ones per channel, event and severity",
  routes(app, ctx) {
    app.get(
      '/templates',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List template overrides',
          querystring: Type.Object({ ...PageQuery }, { additionalProperties: false }),
          response: responses({ 200: Page(TemplateSchema) }),
        },
      },
      async (request) => {
        const after = afterId(request.query);
        const limit = pageSize(request.query);
        const all = (await listTemplateOverrides(ctx.pool, authOf(request).tenantId))
          .filter((t) => after === undefined || BigInt(t.id) > BigInt(after))
          .sort(byId);
        return idPage({ items: all.slice(0, limit).map(show), more: all.length > limit });
      },
    );

    app.get(
      '/templates/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a template override',
          params: IdParams,
          response: responses({ 200: TemplateSchema }),
        },
      },
      async (request) => {
        const found = (await listTemplateOverrides(ctx.pool, authOf(request).tenantId)).find(
          (t) => t.id === request.params.id,
        );
        if (found === undefined) throw notFound('template', request.params.id);
        return show(found);
      },
    );

    app.put(
      '/templates',
      {
        config: { role: 'admin' },
        schema: {
          summary:
            'Create or replace the override of (channel, event, severity); title and body must render',
          body: TemplateBody,
          response: responses({ 200: TemplateSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const b = request.body;
        const input = {
          tenantId,
          channel: b.channel,
          event: b.event ?? '*',
          severity: b.severity ?? '*',
          title: b.title ?? '',
          body: b.body,
        } as TemplateOverrideInput;
        try {
          validateTemplateOverride(input);
        } catch (err) {
          if (err instanceof TemplateValidationError) {
            const path = `body.${err.field}`;
            const message = err.message.replace(`${err.field}: `, '');
            throw new ProblemError(422, 'validation', `${path} ${message}`, [{ path, message }]);
          }
          throw err;
        }
        const before = (await listTemplateOverrides(ctx.pool, tenantId)).find(
          (t) =>
            t.channel === input.channel && t.event === input.event && t.severity === input.severity,
        );
        const saved = show(await upsertTemplateOverride(ctx.pool, input));
        request.audit = {
          resourceType: 'notification_template',
          resourceId: saved.id,
          ...(before === undefined ? {} : { before: show(before) }),
          after: saved,
        };
        return saved;
      },
    );

    app.delete(
      '/templates/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Delete a template override (the built-in template applies again)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const before = (await listTemplateOverrides(ctx.pool, tenantId)).find(
          (t) => t.id === request.params.id,
        );
        if (
          before === undefined ||
          !(await deleteTemplateOverride(ctx.pool, tenantId, before.id))
        ) {
          throw notFound('template', request.params.id);
        }
        request.audit = {
          resourceType: 'notification_template',
          resourceId: before.id,
          before: show(before),
        };
        return reply.code(204).send(null);
      },
    );
  },
};
