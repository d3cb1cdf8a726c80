import compress from '@fastify/compress';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Authenticator } from './auth/authenticator.ts';
import { installAuthentication } from './auth/hooks.ts';
import { TokenSigner } from './auth/tokens.ts';
import { type ApiDependencies, DEFAULT_RATE_LIMIT, type RateLimitSettings } from './deps.ts';
import { installEtags } from './http/etag.ts';
import { ProblemError } from './http/problem.ts';
import { ProblemSchema } from './http/schemas.ts';
import { registerOpenApi } from './openapi.ts';
import type { ApiContext, ApiResource } from './routes/context.ts';
import { API_RESOURCES } from './routes/index.ts';

export const API_PREFIX = '/api/v1';

/** What registerApi returns: the shared context, and close() for shutdown. */
export type ApiHandle = ApiContext & { close(): Promise<void> };

/** Rate limits count per credential: a key, a user, or (no credential) the client address. */
function rateKey(request: FastifyRequest): string {
  const p = request.auth?.principal;
  return p === undefined ? `ip:${request.ip}` : `${p.kind}:${request.auth!.tenantId}:${p.id}`;
}

/**
 * The /api/v1 API on a gateway built by buildGateway (which installed problem errors, request
 * ids and route-role enforcement): authentication, compression, ETags, rate limits, OpenAPI and
 * every resource plugin. Returns the context the resources share (its authenticator must be
 * closed on shutdown: see close()).
 */
export async function registerApi(app: FastifyInstance, deps: ApiDependencies): Promise<ApiHandle> {
  const resources: readonly ApiResource[] = [...API_RESOURCES, ...(deps.resources ?? [])];
  const now = deps.now ?? Date.now;
  let secret: string | Buffer | undefined = deps.tokenSecret;
  if (secret === undefined) {
    app.log.warn(
      'GITO_TOKEN_SECRET is not set: user tokens are signed with a random key and stop working ' +
        'when this process restarts (and are not accepted by other gateways)',
    );
    secret = TokenSigner.ephemeralSecret();
  }
  const signer = new TokenSigner(secret, deps.tokenTtlMs, now);
  const authenticator = new Authenticator({ pool: deps.pool, signer, logger: app.log, now });
  const limits: RateLimitSettings = { ...DEFAULT_RATE_LIMIT, ...deps.rateLimit };
  const ctx: ApiContext = {
    deps,
    pool: deps.pool,
    actors: deps.actors,
    authenticator,
    signer,
    rateLimit: limits,
    now,
  };

  app.addSchema(ProblemSchema);
  installAuthentication(app, authenticator);
  installEtags(app);
  await app.register(compress, { global: true, threshold: 1024 });
  await app.register(rateLimit, {
    global: true,
    max: limits.max,
    timeWindow: limits.timeWindowMs,
    keyGenerator: rateKey,
    // Probes are polled by orchestrators and Prometheus; they must never be throttled.
    allowList: (request) => request.routeOptions.config?.role === 'public' && !isLogin(request),
    errorResponseBuilder: (_request, context) =>
      new ProblemError(
        context.statusCode,
        'rate-limited',
        `rate limit of ${context.max} requests exceeded; retry in ${context.after}`,
      ),
  });
  if (deps.docs !== false) await registerOpenApi(app, resources);
  await deps.install?.(app, ctx);

  await app.register(
    async (api) => {
      for (const resource of resources) {
        await api.register(async (scope) => {
          const typed = scope.withTypeProvider<TypeBoxTypeProvider>();
          // Every route of the resource carries its OpenAPI tag.
          typed.addHook('onRoute', (route) => {
            route.schema = { ...route.schema, tags: [resource.tag] };
          });
          await resource.routes(typed, ctx);
        });
      }
    },
    { prefix: API_PREFIX },
  );
  const handle: ApiHandle = { ...ctx, close: () => authenticator.close() };
  handles.set(app, handle);
  return handle;
}

const handles = new WeakMap<FastifyInstance, ApiHandle>();

/** The API registered on a gateway (tests and tools: e.g. to flush key usage). */
export function apiHandleOf(app: FastifyInstance): ApiHandle | undefined {
  return handles.get(app);
}

function isLogin(request: FastifyRequest): boolean {
  return request.routeOptions.url === `${API_PREFIX}/auth/login`;
}
