/**
 * What one attempt to send came to, and the rules that turn HTTP statuses and socket errors into
 * it. Channels return outcomes; they never throw for a failed send.
 */

export type DeliveryOutcome =
  | {
      readonly kind: 'delivered';
      /** The provider's id for the message (Twilio SID, PagerDuty dedup_key, SMTP message id). */
      readonly providerId: string | null;
      readonly statusCode: number | null;
    }
  | {
      readonly kind: 'retryable';
      readonly statusCode: number | null;
      /** Provider or system error code ('20429', 'ECONNREFUSED', 'timeout'). */
      readonly code: string | null;
      readonly error: string;
      /** The provider asked to wait this long (Retry-After). */
      readonly retryAfterMs?: number;
    }
  | {
      readonly kind: 'permanent';
      readonly statusCode: number | null;
      readonly code: string | null;
      readonly reason: string;
    };

export const delivered = (
  providerId: string | null,
  statusCode: number | null = null,
): DeliveryOutcome => ({ kind: 'delivered', providerId, statusCode });

export function retryable(
  error: string,
  statusCode: number | null = null,
  code: string | null = null,
  retryAfterMs?: number,
): DeliveryOutcome {
  return retryAfterMs === undefined
    ? { kind: 'retryable', statusCode, code, error }
    : { kind: 'retryable', statusCode, code, error, retryAfterMs };
}

export const permanent = (
  reason: string,
  statusCode: number | null = null,
  code: string | null = null,
): DeliveryOutcome => ({ kind: 'permanent', statusCode, code, reason });

/** Longest Retry-After honoured; beyond it the usual backoff and max age decide. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Retry-After in ms: delta-seconds or an HTTP-date (RFC 9110 10.2.3). undefined when absent or
 * unreadable; capped at MAX_RETRY_AFTER_MS.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS);
}

/** Statuses worth another try: timeouts, rate limits, server trouble. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The outcome of a non-2xx HTTP answer. 3xx are permanent: Gito does not follow redirects. */
export function httpFailure(
  status: number,
  detail: string,
  retryAfter: string | null | undefined,
  code: string | null = null,
): DeliveryOutcome {
  const text = `HTTP ${status}${detail === '' ? '' : `: ${detail}`}`;
  if (isRetryableStatus(status)) {
    return retryable(text, status, code, parseRetryAfter(retryAfter));
  }
  return permanent(text, status, code);
}

/** Node and undici socket/DNS errors that say "try again later". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The first `code` found on an error or its causes. */
export function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errno = (current as { errno?: unknown }).errno;
    if (typeof errno === 'string') return errno;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isAbort(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === 'AbortError' || err.name === 'TimeoutError' || err.name === 'CanceledError')
  );
}

/**
 * An exception thrown while talking to a provider: a timeout or abort, a socket or DNS error,
 * or anything unforeseen. All are retryable (max attempts and max age bound them), labelled
 * with their code.
 */
export function thrownFailure(err: unknown, signal?: AbortSignal): DeliveryOutcome {
  if (signal?.aborted || isAbort(err)) {
    return retryable(`timed out or aborted: ${errorMessage(err)}`, null, 'timeout');
  }
  const code = errorCode(err);
  if (code !== undefined && TRANSIENT_CODES.has(code)) {
    return retryable(`${code}: ${errorMessage(err)}`, null, code);
  }
  return retryable(errorMessage(err), null, code ?? 'error');
}
