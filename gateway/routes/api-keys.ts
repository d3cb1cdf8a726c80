import { Type } from '@sinclair/typebox';
import { getApiKey, insertApiKey, listApiKeys, revokeApiKey } from '../../db/gateway/api-keys.ts';
import { getDevice } from '../../db/gateway/devices.ts';
import { getUser } from '../../db/gateway/users.ts';
import { generateApiKey } from '../auth/api-keys.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { invalid, notFound } from '../http/problem.ts';
import { Id, IdParams, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';

const KeyRole = Type.Union([
  Type.Literal('admin'),
  Type.Literal('operator'),
  Type.Literal('viewer'),
  Type.Literal('device'),
]);

const ApiKeySchema = Type.Object({
  id: Id,
  name: Type.String(),
  prefix: Type.String({ description: 'Identifies the key in lists and logs; not a secret' }),
  role: KeyRole,
  userId: Nullable(Id),
  deviceId: Nullable(Id),
  deviceKey: Nullable(Type.String()),
  createdAt: Timestamp,
  lastUsedAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
});

const CreatedKey = Type.Object({
  ...ApiKeySchema.properties,
  key: Type.String({
    description: 'The whole key (gito_<prefix>_<secret>): shown only here, once',
  }),
});

const KeyQuery = Type.Object(
  {
    ...PageQuery,
    role: Type.Optional(KeyRole),
    includeRevoked: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

const NewKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: KeyRole,
    userId: Type.Optional(Id),
    deviceId: Type.Optional(Id),
    expiresAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

export const apiKeysResource: ApiResource = {
  tag: 'api-keys',
  description:
    'API keys for integrations and devices: created (secret shown once), listed, revoked',
  routes(app, ctx) {
    app.get(
      '/api-keys',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'List API keys (prefixes only, never secrets)',
          querystring: KeyQuery,
          response: responses({ 200: Page(ApiKeySchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        return idPage(
          await listApiKeys(ctx.pool, authOf(request).tenantId, {
            role: q.role,
            includeRevoked: q.includeRevoked,
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.get(
      '/api-keys/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Read an API key',
          params: IdParams,
          response: responses({ 200: ApiKeySchema }),
        },
      },
      async (request) => {
        const key = await getApiKey(ctx.pool, authOf(request).tenantId, request.params.id);
        if (key === undefined) throw notFound('API key', request.params.id);
        return key;
      },
    );

    app.post(
      '/api-keys',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Create an API key; the response holds the key, shown this once',
          body: NewKey,
          response: responses({ 201: CreatedKey }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const body = request.body;
        if (body.deviceId !== undefined) {
          if (body.role !== 'device') throw invalid('body.deviceId', 'is only for role device');
          if ((await getDevice(ctx.pool, tenantId, body.deviceId)) === undefined) {
            throw invalid('body.deviceId', 'names no device of this tenant', 422);
          }
        }
        if (body.userId !== undefined) {
          if (body.role === 'device') throw invalid('body.userId', 'is not for role device');
          if ((await getUser(ctx.pool, tenantId, body.userId)) === undefined) {
            throw invalid('body.userId', 'names no user of this tenant', 422);
          }
        }
        const expiresAt = body.expiresAt === undefined ? null : new Date(body.expiresAt);
        if (expiresAt !== null && expiresAt.getTime() <= ctx.now()) {
          throw invalid('body.expiresAt', 'must be in the future');
        }
        const generated = generateApiKey();
        const key = await insertApiKey(ctx.pool, tenantId, {
          name: body.name,
          prefix: generated.prefix,
          keyHash: generated.hash,
          role: body.role,
          userId: body.userId ?? null,
          deviceId: body.deviceId ?? null,
          expiresAt,
        });
        request.audit = { resourceType: 'api_key', resourceId: key.id, after: key };
        return reply.code(201).send({ ...key, key: generated.key });
      },
    );

    app.delete(
      '/api-keys/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Revoke an API key (it stops working at once; the record stays)',
          params: IdParams,
          response: responses({ 200: ApiKeySchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await getApiKey(ctx.pool, tenantId, request.params.id);
        if (before === undefined) throw notFound('API key', request.params.id);
        const after = (await revokeApiKey(ctx.pool, tenantId, request.params.id))!;
        ctx.authenticator.forgetKey(after.prefix);
        request.audit = {
          action: 'api_key.revoke',
          resourceType: 'api_key',
          resourceId: after.id,
          before,
          after,
        };
        return after;
      },
    );
  },
};
