import { Type } from '@sinclair/typebox';
import { findLogin, recordLogin } from '../../db/gateway/users.ts';
import { authOf } from '../auth/hooks.ts';
import { verifyNothing, verifyPassword } from '../auth/passwords.ts';
import { ROLES } from '../auth/roles.ts';
import { ProblemError } from '../http/problem.ts';
import { responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { TenantSlug, UserSchema } from './shapes.ts';

const TokenSchema = Type.Object({
  token: Type.String({ description: 'Send as Authorization: Bearer <token>' }),
  expiresAt: Timestamp,
});

const LoginBody = Type.Object(
  {
    tenant: TenantSlug,
    email: Type.String({ minLength: 3, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

const Me = Type.Object({
  tenantId: Type.String(),
  role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  principal: Type.Object({
    kind: Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('device')]),
    id: Type.String(),
    display: Type.String(),
  }),
  deviceKey: Type.Optional(Type.String()),
});

const badLogin = () =>
  new ProblemError(401, 'invalid-credentials', 'unknown tenant or email, or wrong password');

export const authResource: ApiResource = {
  tag: 'auth',
  description: 'Login for dashboard users (short-lived bearer tokens) and who-am-I',
  routes(app, ctx) {
    app.post(
      '/auth/login',
      {
        config: {
          role: 'public',
          // Guessing passwords is limited per client address, far below the general limit.
          rateLimit: { max: ctx.rateLimit.loginMax, timeWindow: ctx.rateLimit.timeWindowMs },
        },
        schema: {
          summary: 'Log in with email and password; returns a bearer token',
          body: LoginBody,
          response: responses({
            200: Type.Object({ ...TokenSchema.properties, user: UserSchema }),
          }),
        },
      },
      async (request) => {
        const { tenant, email, password } = request.body;
        const found = await findLogin(ctx.pool, tenant, email);
        if (found === undefined || found.passwordHash === null) {
          await verifyNothing(password);
          throw badLogin();
        }
        const ok = await verifyPassword(password, found.passwordHash);
        if (!ok || found.user.disabled) throw badLogin();
        await recordLogin(ctx.pool, tenant, found.user.id);
        const { token, expiresAt } = ctx.signer.issue(tenant, found.user.id);
        request.log.info({ tenant, user: found.user.id }, 'user logged in');
        return { token, expiresAt: new Date(expiresAt).toISOString(), user: found.user };
      },
    );

    app.post(
      '/auth/token',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "Renew a user's token before it expires",
          response: responses({ 200: TokenSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        if (auth.principal.kind !== 'user') {
          throw new ProblemError(403, 'forbidden', 'only user tokens can be renewed');
        }
        const { token, expiresAt } = ctx.signer.issue(auth.tenantId, auth.principal.id);
        return { token, expiresAt: new Date(expiresAt).toISOString() };
      },
    );

    app.get(
      '/auth/me',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'The caller: tenant, role and principal',
          response: responses({ 200: Me }),
        },
      },
      async (request) => authOf(request),
    );
  },
};
