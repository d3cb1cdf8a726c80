import { Type } from '@sinclair/typebox';
import { isUniqueViolation } from '../../db/gateway/common.ts';
import {
  deleteUser,
  findLogin,
  getUser,
  insertUser,
  listUsers,
  updateUser,
} from '../../db/gateway/users.ts';
import { authOf } from '../auth/hooks.ts';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../auth/passwords.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { conflict, forbidden, invalid, notFound } from '../http/problem.ts';
import { IdParams, NoContent, Nullable, responses, SearchQuery } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { Email, Phone, StaffRole, UserSchema } from './shapes.ts';

const Password = Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 1024 });

const UserQuery = Type.Object(
  { ...PageQuery, role: Type.Optional(StaffRole), q: Type.Optional(SearchQuery) },
  { additionalProperties: false },
);

const NewUser = Type.Object(
  {
    email: Email,
    displayName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    role: StaffRole,
    phone: Type.Optional(Nullable(Phone)),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);

const UserPatch = Type.Object(
  {
    email: Type.Optional(Email),
    displayName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    role: Type.Optional(StaffRole),
    phone: Type.Optional(Nullable(Phone)),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

const PasswordChange = Type.Object(
  {
    password: Password,
    currentPassword: Type.Optional(
      Type.String({ maxLength: 1024, description: 'Required when changing your own password' }),
    ),
  },
  { additionalProperties: false },
);

const emailTaken = (email: string) =>
  conflict(`a user with email ${email} exists in this tenant`, 'body.email');

export const usersResource: ApiResource = {
  tag: 'users',
  description: 'Dashboard users of the tenant, their roles and passwords',
  routes(app, ctx) {
    app.get(
      '/users',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'List users',
          querystring: UserQuery,
          response: responses({ 200: Page(UserSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        return idPage(
          await listUsers(ctx.pool, authOf(request).tenantId, {
            role: q.role,
            q: q.q,
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.get(
      '/users/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Read a user',
          params: IdParams,
          response: responses({ 200: UserSchema }),
        },
      },
      async (request) => {
        const user = await getUser(ctx.pool, authOf(request).tenantId, request.params.id);
        if (user === undefined) throw notFound('user', request.params.id);
        return user;
      },
    );

    app.post(
      '/users',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Create a user (with a password, or set one later)',
          body: NewUser,
          response: responses({ 201: UserSchema }),
        },
      },
      async (request, reply) => {
        const { password, ...fields } = request.body;
        const passwordHash = password === undefined ? null : await hashPassword(password);
        const user = await insertUser(ctx.pool, authOf(request).tenantId, {
          ...fields,
          passwordHash,
        });
        if (user === undefined) throw emailTaken(fields.email);
        request.audit = { resourceType: 'user', resourceId: user.id, after: user };
        return reply.code(201).send(user);
      },
    );

    app.patch(
      '/users/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: "Update a user's profile, role or disabled state",
          params: IdParams,
          body: UserPatch,
          response: responses({ 200: UserSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        const id = request.params.id;
        const before = await getUser(ctx.pool, auth.tenantId, id);
        if (before === undefined) throw notFound('user', id);
        const self = auth.principal.kind === 'user' && auth.principal.id === id;
        if (
          self &&
          (request.body.disabled === true || (request.body.role ?? 'admin') !== 'admin')
        ) {
          throw forbidden('you cannot disable or demote yourself');
        }
        const after = await updateUser(ctx.pool, auth.tenantId, id, request.body).catch(
          (err: unknown) => {
            if (isUniqueViolation(err)) throw emailTaken(request.body.email ?? '');
            throw err;
          },
        );
        if (after === undefined) throw notFound('user', id);
        ctx.authenticator.forgetUser(auth.tenantId, id);
        request.audit = { resourceType: 'user', resourceId: id, before, after };
        return after;
      },
    );

    app.delete(
      '/users/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Delete a user (their API keys and team memberships go too)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const auth = authOf(request);
        const id = request.params.id;
        if (auth.principal.kind === 'user' && auth.principal.id === id) {
          throw forbidden('you cannot delete yourself');
        }
        const before = await deleteUser(ctx.pool, auth.tenantId, id);
        if (before === undefined) throw notFound('user', id);
        ctx.authenticator.forgetUser(auth.tenantId, id);
        request.audit = { resourceType: 'user', resourceId: id, before };
        return reply.code(204).send(null);
      },
    );

    app.put(
      '/users/:id/password',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Set a password: your own (with currentPassword), or any user as admin',
          params: IdParams,
          body: PasswordChange,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const auth = authOf(request);
        const id = request.params.id;
        const self = auth.principal.kind === 'user' && auth.principal.id === id;
        const user = await getUser(ctx.pool, auth.tenantId, id);
        if (user === undefined) throw notFound('user', id);
        if (!self && auth.role !== 'admin')
          throw forbidden("only admins set other users' passwords");
        if (self) {
          const current = request.body.currentPassword;
          if (current === undefined) throw invalid('body.currentPassword', 'is required');
          const login = await findLogin(ctx.pool, auth.tenantId, user.email);
          const ok =
            login?.passwordHash != null && (await verifyPassword(current, login.passwordHash));
          if (!ok) throw invalid('body.currentPassword', 'is wrong');
        }
        await updateUser(ctx.pool, auth.tenantId, id, {
          passwordHash: await hashPassword(request.body.password),
        });
        ctx.authenticator.forgetUser(auth.tenantId, id);
        request.audit = { action: 'user.password', resourceType: 'user', resourceId: id };
        return reply.code(204).send(null);
      },
    );
  },
};
