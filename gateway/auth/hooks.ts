import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../http/problem.ts';
import { type Authenticator, type Credential, credentialFrom } from './authenticator.ts';
import { satisfies } from './roles.ts';

/**
 * Routes that may be public: health and metrics probes, login, the OpenAPI document and UI.
 * Anything else declaring `role: 'public'` fails at startup.
 */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/status', '/api/v1/auth/login']);
export const DOCS_PREFIX = '/docs';

function mayBePublic(url: string, extraPrefixes: readonly string[]): boolean {
  return (
    PUBLIC_PATHS.has(url) ||
    url === DOCS_PREFIX ||
    url.startsWith(`${DOCS_PREFIX}/`) ||
    extraPrefixes.some((prefix) => url.startsWith(prefix))
  );
}

/**
 * Every route must declare `config: { role }`; one that does not makes the gateway fail at
 * startup (an onRoute hook throws while the route is added), so a forgotten role can never
 * ship as an open route. Routes under /docs (added by @fastify/swagger-ui, which cannot be told
 * a config) are public.
 */
export function enforceRouteRoles(
  app: FastifyInstance,
  /** Prefixes a test or benchmark process opens without auth (never set in production). */
  extraPublicPrefixes: readonly string[] = [],
): void {
  app.addHook('onRoute', (route) => {
    const role = route.config?.role;
    const where = `${String(route.method)} ${route.url}`;
    if (role === undefined) {
      if (route.url.startsWith(`${DOCS_PREFIX}/`) || route.url === DOCS_PREFIX) {
        route.config = { ...route.config, role: 'public' };
        return;
      }
      throw new Error(`route ${where} declares no config.role (use 'public' only for probes)`);
    }
    if (role === 'public' && !mayBePublic(route.url, extraPublicPrefixes)) {
      throw new Error(`route ${where} may not be public (only health, metrics, login and docs)`);
    }
  });
}

/**
 * Authenticates every request to a non-public route before anything else runs (body parsing,
 * validation, rate limiting by principal): 401 without or with a bad credential, 403 when the
 * role is too weak. Sets request.auth.
 */
export function installAuthentication(app: FastifyInstance, authenticator: Authenticator): void {
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    const role = config?.role;
    // Unmatched URLs (404 handler) and public routes need no credential.
    if (role === undefined || role === 'public') return;
    const credential = credentialOf(request, config.tokenInQuery === true);
    if (credential === undefined) {
      throw unauthorized('authentication required: send Authorization: Bearer <token or API key>');
    }
    const auth = await authenticator.authenticate(credential);
    if (auth === undefined) throw unauthorized('the credential is invalid, expired or revoked');
    request.auth = auth;
    if (!satisfies(auth.role, role)) {
      throw forbidden(`this route requires role ${role}; the credential has role ${auth.role}`);
    }
  });
}

function credentialOf(request: FastifyRequest, allowQuery: boolean): Credential | undefined {
  const fromHeaders = credentialFrom(request.headers);
  if (fromHeaders !== undefined || !allowQuery) return fromHeaders;
  const token = (request.query as Record<string, unknown> | undefined)?.access_token;
  return typeof token === 'string' && token !== ''
    ? credentialFrom({ authorization: `Bearer ${token}` })
    : undefined;
}

/** The caller of a non-public route (set by installAuthentication; present by construction). */
export function authOf(request: FastifyRequest) {
  const auth = request.auth;
  if (auth === undefined) throw unauthorized('authentication required');
  return auth;
}
