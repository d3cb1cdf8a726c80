import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AuditEntry, type AuditOutcome, GLOBAL_CHAIN } from '../../db/audit/index.ts';
import '../auth/context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by a handler that wrote its own audit record (in its own transaction, e.g. GDPR
     * erasure): the audit plugin then writes none for this request.
     */
    auditWritten?: boolean;
    /** Secret values to blank from the audit diff wherever they appear (e.g. a key shown once). */
    auditSecrets?: readonly string[];
  }
  interface FastifyContextConfig {
    /**
     * false: this mutating route writes no audit record (high-volume device ingest). Routes whose
     * role is 'device' are not audited unless this is true.
     */
    audit?: boolean;
  }
}

export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether the audit plugin writes a record for this request. Rate-limited answers (429) are not
 * recorded: writing a record for each would hand the database the load the limit keeps away
 * (they are counted in gito_gateway_problems_total).
 */
export function isAudited(request: FastifyRequest, reply: FastifyReply): boolean {
  if (!MUTATING_METHODS.has(request.method) || request.auditWritten === true) return false;
  if (reply.statusCode === 429) return false;
  const config = request.routeOptions.config;
  if (config?.audit !== undefined) return config.audit;
  return config?.role !== 'device';
}

export function outcomeOf(status: number): AuditOutcome {
  if (status >= 500) return 'error';
  return status >= 400 ? 'refused' : 'ok';
}

const API_PREFIX = /^\/api\/v\d+\//;
/** An id from the URL is chained as is: accept only what cannot be personal data (no '@'). */
const SAFE_ID = /^[\w.:-]{1,128}$/;

/**
 * The record of a finished request: who (request.auth, or anonymous), what (request.audit set by
 * the handler, or derived from the route for a request refused before its handler), and how it
 * ended. Requests without a tenant (anonymous refusals) go to the '_global' chain.
 */
export function auditEntryOf(request: FastifyRequest, reply: FastifyReply): AuditEntry {
  const auth = request.auth;
  const note = request.audit;
  const route = request.routeOptions.url;
  const status = reply.statusCode;
  const resourceType = note?.resourceType ?? resourceTypeOf(route);
  const resourceId = note?.resourceId ?? paramId(request);
  const secretFields = (note as { secretFields?: unknown } | undefined)?.secretFields;
  const userAgent = request.headers['user-agent'];
  return {
    tenantId: auth?.tenantId ?? GLOBAL_CHAIN,
    actor:
      auth === undefined
        ? { kind: 'anonymous' }
        : {
            kind: auth.principal.kind,
            id: auth.principal.id,
            display: auth.principal.display,
          },
    action: note?.action ?? actionOf(request.method, route, resourceType, note !== undefined),
    resourceType,
    ...(resourceId === undefined ? {} : { resourceId }),
    ...(note?.before === undefined ? {} : { before: note.before }),
    ...(note?.after === undefined ? {} : { after: note.after }),
    requestId: String(request.id),
    ip: request.ip,
    ...(typeof userAgent === 'string' ? { userAgent } : {}),
    result: { status, outcome: outcomeOf(status) },
    redact: {
      fields: Array.isArray(secretFields) ? secretFields.filter((f) => typeof f === 'string') : [],
      values: request.auditSecrets ?? [],
    },
  };
}

/**
 * 'device.create' from POST on a collection, 'alert.acknowledge' from POST /alerts/:id/acknowledge,
 * '<type>.update' for PUT/PATCH, '<type>.delete' for DELETE. A request refused before its handler
 * (no note) keeps the method and route: 'POST /api/v1/users'.
 */
export function actionOf(
  method: string,
  route: string | undefined,
  resourceType: string,
  handled: boolean,
): string {
  if (!handled) return `${method} ${route ?? '(no route)'}`;
  const segments = (route ?? '').split('/').filter((s) => s !== '');
  const last = segments[segments.length - 1];
  const afterParam = segments.length >= 2 && segments[segments.length - 2]!.startsWith(':');
  if (last !== undefined && !last.startsWith(':') && afterParam) return `${resourceType}.${last}`;
  switch (method) {
    case 'POST':
      return `${resourceType}.create`;
    case 'DELETE':
      return `${resourceType}.delete`;
    default:
      return `${resourceType}.update`;
  }
}

/** 'device' from /api/v1/devices/:id, 'escalation_policy' from /api/v1/escalation-policies. */
export function resourceTypeOf(route: string | undefined): string {
  if (route === undefined) return 'http';
  const first = route
    .replace(API_PREFIX, '/')
    .split('/')
    .find((s) => s !== '' && !s.startsWith(':'));
  if (first === undefined) return 'http';
  const singular = first.endsWith('ies')
    ? `${first.slice(0, -3)}y`
    : /[^su]s$/.test(first)
      ? first.slice(0, -1)
      : first;
  return singular.replace(/-/g, '_');
}

function paramId(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, unknown> | undefined;
  const id = params?.id;
  return typeof id === 'string' && SAFE_ID.test(id) ? id : undefined;
}
