import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { sqlState } from '../../db/gateway/common.ts';
import {
  type FieldError,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  ProblemError,
  statusTitle,
} from './problem.ts';

/** The part of an Ajv error the mapping reads (Fastify passes Ajv's ErrorObject). */
interface AjvErrorLike {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

const CONTEXT_PREFIX: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

/** `body.devices[3].key` for instancePath '/devices/3/key' in the body. */
export function fieldPath(context: string, err: AjvErrorLike): string {
  const segments = err.instancePath === '' ? [] : err.instancePath.split('/').slice(1);
  const decoded = segments.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'required' && typeof err.params.missingProperty === 'string') {
    decoded.push(err.params.missingProperty);
  } else if (
    err.keyword === 'additionalProperties' &&
    typeof err.params.additionalProperty === 'string'
  ) {
    decoded.push(err.params.additionalProperty);
  }
  let path = CONTEXT_PREFIX[context] ?? context;
  for (const s of decoded) path += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  return path;
}

function fieldMessage(err: AjvErrorLike): string {
  switch (err.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'enum':
      return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return err.message ?? `fails ${err.keyword}`;
  }
}

/**
 * Ajv reports one error per failed branch of an anyOf (e.g. a nullable field) plus the anyOf
 * itself; keep one message per path, preferring the most specific.
 */
export function validationErrors(context: string, errors: readonly AjvErrorLike[]): FieldError[] {
  const byPath = new Map<string, string>();
  for (const err of errors) {
    const path = fieldPath(context, err);
    if (err.keyword === 'anyOf' && byPath.has(path)) continue;
    if (!byPath.has(path) || byPath.get(path) === 'must match a schema in anyOf') {
      byPath.set(path, fieldMessage(err));
    }
  }
  return [...byPath].map(([path, message]) => ({ path, message }));
}

const FASTIFY_SLUGS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload-too-large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed-body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed-body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'malformed-body',
};

/** Any thrown value as a problem: what the client sees. */
export function toProblemError(error: unknown): ProblemError {
  if (error instanceof ProblemError) return error;
  const e = error as Partial<FastifyError> & { validationContext?: string };
  if (Array.isArray(e.validation)) {
    const errors = validationErrors(
      e.validationContext ?? 'body',
      e.validation as unknown as AjvErrorLike[],
    );
    const first = errors[0];
    const detail =
      first === undefined
        ? 'the request is invalid'
        : `${first.path} ${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`;
    return new ProblemError(400, 'validation', detail, errors);
  }
  switch (sqlState(error)) {
    // The handlers check what they can before writing; these are the races and the rest.
    case '23505':
      return new ProblemError(409, 'conflict', 'a resource with the same unique value exists');
    case '23503':
      return new ProblemError(409, 'conflict', 'a referenced resource does not exist');
    case '23514':
    case '22001':
    case '22003':
    case '22P02':
      return new ProblemError(400, 'validation', 'a value is out of range or malformed');
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const slug =
      (e.code && FASTIFY_SLUGS[e.code]) ?? statusTitle(status).toLowerCase().replace(/\W+/g, '-');
    const detail =
      typeof e.message === 'string' && e.message !== '' ? e.message : statusTitle(status);
    return new ProblemError(status, slug, detail);
  }
  return new ProblemError(Math.max(status, 500), 'internal', 'internal error');
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: ProblemError) {
  const problem: Problem = error.toProblem(request.url.split('?')[0], String(request.id));
  if (error.headers !== undefined) reply.headers(error.headers);
  // A string payload skips the route's response serializer: problems are never trimmed.
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/**
 * Every error becomes problem+json; 4xx are counted by type (bad input is visible in metrics),
 * 5xx are logged with their cause and never expose it.
 */
export function installProblemHandling(app: FastifyInstance, registry: Registry): void {
  const problems = new Counter({
    name: 'gito_gateway_problems_total',
    help: 'Error responses of the HTTP gateway, by status and problem type',
    labelNames: ['status', 'type'],
    registers: [registry],
  });
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblemError(error);
    if (problem.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if (!(error instanceof ProblemError)) {
      request.log.info({ problem: problem.slug, detail: problem.detail }, 'request refused');
    }
    problems.inc({ status: String(problem.status), type: problem.slug });
    return sendProblem(request, reply, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    problems.inc({ status: '404', type: 'not-found' });
    return sendProblem(
      request,
      reply,
      new ProblemError(404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`),
    );
  });
}
