/**
 * Errors as RFC 9457 problem details (application/problem+json). Routes throw ProblemError (or
 * the helpers below); the error handler (errors.ts) turns it and every other failure into a
 * problem document, so clients see one error format everywhere.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One offending input: `body.name`, `query.limit`, `params.id`, `body.devices[3].key`. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface Problem {
  /** `urn:gito:problem:<slug>`; docs/api.md lists the slugs. */
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  /** The request path that failed. */
  readonly instance?: string;
  /** The request id (x-request-id), to find the log lines of the failure. */
  readonly requestId?: string;
  /** Validation problems: every offending field. */
  readonly errors?: readonly FieldError[];
}

export function problemType(slug: string): string {
  return `urn:gito:problem:${slug}`;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    /** Short, stable, kebab-case: the last part of the problem type. */
    readonly slug: string,
    readonly detail: string,
    readonly errors?: readonly FieldError[],
    /** Extra response headers (e.g. WWW-Authenticate, Retry-After). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(detail);
  }

  toProblem(instance?: string, requestId?: string): Problem {
    return {
      type: problemType(this.slug),
      title: statusTitle(this.status),
      status: this.status,
      detail: this.detail,
      ...(instance === undefined ? {} : { instance }),
      ...(requestId === undefined ? {} : { requestId }),
      ...(this.errors === undefined ? {} : { errors: this.errors }),
    };
  }
}

/** The resource does not exist in the caller's tenant (whether or not it exists elsewhere). */
export function notFound(what: string, id: string | number): ProblemError {
  return new ProblemError(404, 'not-found', `${what} ${id} not found`);
}

export function conflict(detail: string, path?: string): ProblemError {
  return new ProblemError(
    409,
    'conflict',
    detail,
    path === undefined ? undefined : [{ path, message: detail }],
  );
}

/** Input that passed the schema but is still wrong, naming the field. */
export function invalid(path: string, message: string, status = 400): ProblemError {
  return new ProblemError(status, 'validation', `${path} ${message}`, [{ path, message }]);
}

export function unauthorized(detail: string): ProblemError {
  return new ProblemError(401, 'unauthorized', detail, undefined, {
    'www-authenticate': 'Bearer realm="gito"',
  });
}

export function forbidden(detail: string): ProblemError {
  return new ProblemError(403, 'forbidden', detail);
}
