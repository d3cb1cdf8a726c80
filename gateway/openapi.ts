import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { DOCS_PREFIX } from './auth/hooks.ts';
import type { ApiResource } from './routes/context.ts';

/**
 * OpenAPI 3.1 generated from the route schemas (@fastify/swagger), served as a UI at /docs and
 * as JSON at /docs/json. scripts/export-openapi.ts writes the same document to docs/openapi.json.
 */
export async function registerOpenApi(
  app: FastifyInstance,
  resources: readonly ApiResource[],
): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gito API',
        version: '1',
        description:
          'IoT monitoring and alerting. Conventions (errors, pagination, filters, ETags, rate ' +
          'limits) and authentication are described in docs/api.md.',
      },
      tags: resources.map((r) => ({ name: r.tag, description: r.description })),
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A user token (POST /api/v1/auth/login) or an API key',
          },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
    // Shared schemas (Problem) become components named by their $id.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transform: ({ schema, url, route }) => {
      const role = route.config?.role;
      const transformed = { ...schema } as Record<string, unknown>;
      if (role !== undefined && role !== 'public') {
        transformed.security = [{ bearer: [] }, { apiKey: [] }];
        transformed['x-gito-role'] = role;
      }
      return { schema: transformed as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
