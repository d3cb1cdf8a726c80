import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Registry } from 'prom-client';
import { type ApiHandle, registerApi } from './api.ts';
import { enforceRouteRoles } from './auth/hooks.ts';
import type { ApiDependencies } from './deps.ts';
import { installProblemHandling } from './http/errors.ts';
import { GatewayLogController } from './http/logging.ts';
import { installRequestMetrics } from './http/metrics.ts';
import { echoRequestId, requestIdFrom } from './http/request-id.ts';
import { validatorCompiler } from './http/validation.ts';

export interface GatewayDependencies {
  readonly logger: PinoLogger;
  readonly registry: Registry;
  /** Checks run by /readyz; each resolves when its dependency is usable. */
  readonly readiness: Record<string, () => Promise<void>>;
  readonly nodeId: string;
  /** What `GET /status` reports (counts for operators and the simulator). */
  readonly status?: () => Record<string, unknown>;
  /** The /api/v1 API (and /docs); without it the gateway serves the probes only. */
  readonly api?: ApiDependencies;
  /**
   * URL prefixes of unauthenticated routes a test fixture or benchmark process adds (e.g.
   * '/test/'); production processes set none.
   */
  readonly extraPublicPrefixes?: readonly string[];
}

/**
 * The HTTP gateway: health, readiness, metrics and, given `api`, the /api/v1 API. Conventions
 * every route gets: RFC 9457 problem errors, request ids (x-request-id in and out, in every log
 * line), and a mandatory `config.role` (a route without one fails the startup).
 */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export async function buildGateway(deps: GatewayDependencies) {
  // Typed as Fastify's logger interface so plugins written against FastifyInstance accept it.
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    logController: new GatewayLogController(PROBE_PATHS),
    genReqId: requestIdFrom,
  });
  app.setValidatorCompiler(validatorCompiler());
  installProblemHandling(app, deps.registry);
  installRequestMetrics(app, deps.registry);
  echoRequestId(app);
  enforceRouteRoles(app, deps.extraPublicPrefixes);

  app.get(
    '/healthz',
    {
      config: { role: 'public' },
      schema: {
        hide: true,
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string' }, node: { type: 'string' } },
            required: ['status', 'node'],
          },
        },
      },
    },
    async () => ({ status: 'ok', node: deps.nodeId }),
  );

  app.get(
    '/readyz',
    { config: { role: 'public' }, schema: { hide: true } },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      let ready = true;
      for (const [name, check] of Object.entries(deps.readiness)) {
        try {
          await check();
          checks[name] = 'ok';
        } catch (err) {
          ready = false;
          checks[name] = err instanceof Error ? err.message : String(err);
        }
      }
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
    },
  );

  const status = deps.status;
  if (status !== undefined) {
    app.get('/status', { config: { role: 'public' }, schema: { hide: true } }, async () =>
      status(),
    );
  }

  app.get(
    '/metrics',
    { config: { role: 'public' }, schema: { hide: true } },
    async (_request, reply) => {
      reply.type(deps.registry.contentType);
      return deps.registry.metrics();
    },
  );

  let api: ApiHandle | undefined;
  if (deps.api !== undefined) api = await registerApi(app, deps.api);
  // Pending "last used" times of API keys are written before the process goes.
  app.addHook('onClose', async () => {
    await api?.close();
  });

  return app;
}

/** The gateway's Fastify instance type (with Gito's pino logger). */
export type Gateway = Awaited<ReturnType<typeof buildGateway>>;
