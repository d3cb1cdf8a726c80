import Fastify, { LogController } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Registry } from 'prom-client';

export interface GatewayDependencies {
  readonly logger: PinoLogger;
  readonly registry: Registry;
  /** Checks run by /readyz; each resolves when its dependency is usable. */
  readonly readiness: Record<string, () => Promise<void>>;
  readonly nodeId: string;
  /** What `GET /status` reports (counts for operators and the simulator). */
  readonly status?: () => Record<string, unknown>;
}

/**
 * The HTTP gateway. At this stage it serves health, readiness and metrics; the API routes arrive
 * as encapsulated plugins with the features they expose.
 */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export async function buildGateway(deps: GatewayDependencies) {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Probes arrive every few seconds; logging each would drown the useful lines.
    logController: new LogController({
      disableRequestLogging: (request) => PROBE_PATHS.has(request.url.split('?')[0] ?? ''),
    }),
  });

  app.get(
    '/healthz',
    {
      schema: {
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

  app.get('/readyz', async (_request, reply) => {
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
  });

  const status = deps.status;
  if (status !== undefined) app.get('/status', async () => status());

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });

  return app;
}

/** The gateway's Fastify instance type (with Gito's pino logger). */
export type Gateway = Awaited<ReturnType<typeof buildGateway>>;
