import { Type } from '@sinclair/typebox';
import { TargetError } from '../../actors/notify/channels/channel.ts';
import { channelModule } from '../../actors/notify/channels/registry.ts';
import { contactPointFields } from '../../actors/notify/contact-points.ts';
import { getUser } from '../../db/gateway/users.ts';
import {
  type ContactPoint,
  type ContactPointKind,
  createContactPoint,
  deleteContactPoint,
  getContactPointsWithSecrets,
  listContactPoints,
  updateContactPoint,
} from '../../db/notify/contact-points.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { invalid, notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, NoContent, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiContext, ApiResource } from './context.ts';
import { notifyOf } from './notify-access.ts';

const Kind = Type.Union(
  [
    Type.Literal('email'),
    Type.Literal('sms'),
    Type.Literal('slack'),
    Type.Literal('webhook'),
    Type.Literal('pagerduty'),
  ] satisfies { const: ContactPointKind }[],
  { description: 'Channel kind' },
);

/** Never carries a secret: those stay sealed; `secretFields` names what is stored sealed. */
const ContactPointSchema = Type.Object({
  id: Id,
  userId: Nullable(Id),
  kind: Kind,
  name: Type.String(),
  address: Type.String({ description: 'What to show (address, origin, …last 4); never secret' }),
  config: Type.Object({}, { additionalProperties: true, description: 'Non-secret target fields' }),
  hasSecret: Type.Boolean(),
  secretFields: Type.Array(Type.String(), {
    description: 'Target fields stored sealed; never returned',
  }),
  enabled: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const Target = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      'The channel target: email {to, name?}, sms {to}, slack {webhookUrl, label?}, ' +
      'webhook {url, secret}, pagerduty {routingKey}',
  },
);

const Name = Type.String({ maxLength: 200 });

const NewContactPoint = Type.Object(
  {
    kind: Kind,
    target: Target,
    userId: Type.Optional(Nullable(Id)),
    name: Type.Optional(Name),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const ContactPointPatch = Type.Object(
  {
    target: Type.Optional(Target),
    name: Type.Optional(Name),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

function show(point: ContactPoint) {
  return {
    id: point.id,
    userId: point.userId,
    kind: point.kind,
    name: point.name,
    address: point.address,
    config: { ...point.config },
    hasSecret: point.hasSecret,
    secretFields: [...(channelModule(point.kind)?.secretFields ?? [])],
    enabled: point.enabled,
    createdAt: new Date(point.createdAt).toISOString(),
    updatedAt: new Date(point.updatedAt).toISOString(),
  };
}

/** The target split for storage, or a 422 naming the field (`body.target.url`). */
function fieldsOf(kind: ContactPointKind, target: unknown) {
  try {
    return contactPointFields(kind, target);
  } catch (err) {
    if (err instanceof TargetError) {
      const path = err.field === 'kind' ? 'body.kind' : `body.target.${err.field}`;
      throw new ProblemError(422, 'validation', `${path}: ${err.message}`, [
        { path, message: err.message.replace(`${err.field}: `, '') },
      ]);
    }
    throw err;
  }
}

/** Secret values of a target, to blank from the audit diff should they reach it. */
const secretValues = (secret: Record<string, unknown> | null): string[] =>
  Object.values(secret ?? {}).filter((v): v is string => typeof v === 'string');

async function findContactPoint(
  ctx: ApiContext,
  tenantId: string,
  id: string,
): Promise<ContactPoint> {
  const point = (await listContactPoints(ctx.pool, tenantId)).find((p) => p.id === id);
  if (point === undefined) throw notFound('contact point', id);
  return point;
}

export const contactPointsResource: ApiResource = {
  tag: 'contact-points',
  description:
    'How to reach users (or shared destinations): e-mail, SMS, Slack, webhook, PagerDuty. Secret fields are stored sealed and never returned',
  routes(app, ctx) {
    app.get(
      '/contact-points',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List contact points',
          querystring: Type.Object(
            { ...PageQuery, user: Type.Optional(Id), kind: Type.Optional(Kind) },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(ContactPointSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        const after = afterId(q);
        const limit = pageSize(q);
        const all = await listContactPoints(ctx.pool, authOf(request).tenantId, {
          ...(q.user === undefined ? {} : { userId: q.user }),
          ...(q.kind === undefined ? {} : { kind: q.kind }),
        });
        // Ordered by id already; a tenant has few contact points, so the page is cut here.
        const rest = after === undefined ? all : all.filter((p) => BigInt(p.id) > BigInt(after));
        return idPage({ items: rest.slice(0, limit).map(show), more: rest.length > limit });
      },
    );

    app.get(
      '/contact-points/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a contact point (without its secret fields)',
          params: IdParams,
          response: responses({ 200: ContactPointSchema }),
        },
      },
      async (request) =>
        show(await findContactPoint(ctx, authOf(request).tenantId, request.params.id)),
    );

    app.post(
      '/contact-points',
      {
        config: { role: 'operator' },
        schema: {
          summary: "Create a contact point (a user's, or shared when userId is absent)",
          body: NewContactPoint,
          response: responses({ 201: ContactPointSchema }),
        },
      },
      async (request, reply) => {
        const { sealer } = notifyOf(ctx);
        const tenantId = authOf(request).tenantId;
        const body = request.body;
        const userId = body.userId ?? null;
        if (userId !== null && (await getUser(ctx.pool, tenantId, userId)) === undefined) {
          throw invalid('body.userId', 'names no user of this tenant', 422);
        }
        const fields = fieldsOf(body.kind, body.target);
        request.auditSecrets = secretValues(fields.secret);
        const point = await createContactPoint(ctx.pool, sealer, {
          tenantId,
          userId,
          kind: body.kind,
          ...(body.name === undefined ? {} : { name: body.name }),
          ...(body.enabled === undefined ? {} : { enabled: body.enabled }),
          ...fields,
        });
        const shown = show(point);
        request.audit = { resourceType: 'contact_point', resourceId: point.id, after: shown };
        // reply.send's typing turns the kind union into never: set the code, return the body.
        reply.code(201);
        return shown;
      },
    );

    app.patch(
      '/contact-points/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Change a contact point (a new target replaces the old one, secrets included)',
          params: IdParams,
          body: ContactPointPatch,
          response: responses({ 200: ContactPointSchema }),
        },
      },
      async (request) => {
        const { sealer } = notifyOf(ctx);
        const tenantId = authOf(request).tenantId;
        const id = request.params.id;
        const before = await findContactPoint(ctx, tenantId, id);
        const body = request.body;
        let fields: Pick<ContactPoint, 'address' | 'config'> & {
          secret: Record<string, unknown> | null;
        };
        if (body.target !== undefined) {
          fields = fieldsOf(before.kind, body.target);
        } else {
          // Name or enabled only: the stored target stays, its secret re-sealed as it is.
          const [current] = await getContactPointsWithSecrets(ctx.pool, sealer, tenantId, [id]);
          if (current === undefined) throw notFound('contact point', id);
          fields = { address: current.address, config: current.config, secret: current.secret };
        }
        request.auditSecrets = secretValues(fields.secret);
        const after = await updateContactPoint(ctx.pool, sealer, tenantId, id, {
          name: body.name ?? before.name,
          enabled: body.enabled ?? before.enabled,
          ...fields,
        });
        if (after === undefined) throw notFound('contact point', id);
        const shown = show(after);
        request.audit = {
          resourceType: 'contact_point',
          resourceId: id,
          before: show(before),
          after: shown,
        };
        return shown;
      },
    );

    app.delete(
      '/contact-points/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Delete a contact point',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const before = await findContactPoint(ctx, tenantId, request.params.id);
        if (!(await deleteContactPoint(ctx.pool, tenantId, before.id))) {
          throw notFound('contact point', before.id);
        }
        request.audit = {
          resourceType: 'contact_point',
          resourceId: before.id,
          before: show(before),
        };
        return reply.code(204).send(null);
      },
    );
  },
};
