import type { Agent } from 'node:https';
import { event } from '@pagerduty/pdjs';
import type { NotificationEvent, RenderedMessage } from '../types.ts';
import {
  type Channel,
  type ChannelModule,
  requiredString,
  type SendContext,
  targetObject,
} from './channel.ts';
import { digestOf } from './hash.ts';
import {
  type DeliveryOutcome,
  delivered,
  httpFailure,
  retryable,
  thrownFailure,
} from './outcome.ts';

/**
 * PagerDuty Events API v2 through @pagerduty/pdjs `event()`.
 *
 * - dedup_key derives from the alert (pagerdutyDedupKey): a retry, or a replay after a crash,
 *   reuses it, so PagerDuty keeps one incident; acknowledge and resolve use the same key.
 * - pdjs always calls https://{server}/v2/enqueue; `server` is host[:port] and `agent` (an
 *   https.Agent, e.g. with a private CA) is passed through to its fetch.
 * - pdjs resolves on HTTP errors ({status, data}); we classify. It retries a 429 itself, three
 *   times `retryTimeoutMs` apart; a 429 left after that is retryable (Retry-After honoured).
 * - pdjs wires no request timeout: ours aborts the fetch and stops waiting.
 */

export interface PagerDutyTarget {
  /** The integration key of a PagerDuty service (Events API v2). */
  readonly routingKey: string;
}

export interface PagerDutyOptions {
  /** host[:port]; default events.pagerduty.com. */
  readonly server?: string;
  /** TLS agent, e.g. new https.Agent({ ca }) for a private CA. */
  readonly agent?: Agent;
  /** Whole call, pdjs's own 429 retries included. Default 15 s. */
  readonly timeoutMs?: number;
  /** Spacing of pdjs's own 429 retries. Default 2 s (pdjs: 20 s). */
  readonly retryTimeoutMs?: number;
}

/** PagerDuty accepts about 120 events per minute per routing key. */
export const PAGERDUTY_RATE = { count: 120, intervalMs: 60_000 } as const;

const ACTIONS: Record<NotificationEvent, 'trigger' | 'acknowledge' | 'resolve'> = {
  firing: 'trigger',
  acknowledged: 'acknowledge',
  resolved: 'resolve',
};

const SEVERITIES: Record<string, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  major: 'error',
  minor: 'warning',
  warning: 'warning',
  info: 'info',
};

/** dedup_key of an alert's incident: stable, at most 255 characters. */
export function pagerdutyDedupKey(tenantId: string, alertId: string): string {
  const key = `gito/${tenantId}/alert/${alertId}`;
  return key.length <= 255 ? key : `gito/alert/${digestOf(key)}`;
}

function dedupKeyOf(message: RenderedMessage, ctx: SendContext): string {
  return message.alertId === null
    ? `gito/${message.tenantId}/message/${digestOf(ctx.idempotencyKey)}`
    : pagerdutyDedupKey(message.tenantId, message.alertId);
}

/** The Events API v2 body. Acknowledge and resolve carry no payload. */
export function pagerdutyEvent(
  message: RenderedMessage,
  target: PagerDutyTarget,
  dedupKey: string,
): Record<string, unknown> {
  const action = ACTIONS[message.event];
  const base = { routing_key: target.routingKey, event_action: action, dedup_key: dedupKey };
  if (action !== 'trigger') return base;
  return {
    ...base,
    client: 'Gito',
    payload: {
      summary: message.title.slice(0, 1024) || 'Gito alert',
      source: message.source.slice(0, 255) || 'gito',
      severity: SEVERITIES[message.severity] ?? 'error',
      timestamp: new Date(message.occurredAt).toISOString(),
      custom_details: { text: message.body, ...message.details },
    },
    links: message.links.map((l) => ({ href: l.href, text: l.text ?? l.href })),
  };
}

interface PdResponse {
  status: number;
  data?: unknown;
  headers?: { get(name: string): string | null };
}

class PagerDutyChannel implements Channel<PagerDutyTarget> {
  readonly name = 'pagerduty';

  constructor(private readonly options: PagerDutyOptions) {}

  async send(
    message: RenderedMessage,
    target: PagerDutyTarget,
    ctx: SendContext,
  ): Promise<DeliveryOutcome> {
    const dedupKey = dedupKeyOf(message, ctx);
    const signal = AbortSignal.any([
      ctx.signal,
      AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
    ]);
    try {
      const response = (await abortable(
        event({
          server: this.options.server ?? 'events.pagerduty.com',
          data: pagerdutyEvent(message, target, dedupKey),
          retryTimeout: this.options.retryTimeoutMs ?? 2000,
          signal,
          // pdjs passes unknown options on to its fetch (node-fetch), which takes `agent`.
          ...(this.options.agent === undefined ? {} : { agent: this.options.agent }),
        } as unknown as Parameters<typeof event>[0]),
        signal,
      )) as PdResponse;
      const data = (response.data ?? {}) as {
        dedup_key?: unknown;
        message?: unknown;
        errors?: unknown;
      };
      if (response.status >= 200 && response.status < 300) {
        return delivered(
          typeof data.dedup_key === 'string' ? data.dedup_key : dedupKey,
          response.status,
        );
      }
      const detail = [data.message, Array.isArray(data.errors) ? data.errors.join('; ') : undefined]
        .filter((x) => typeof x === 'string' && x !== '')
        .join(': ');
      return httpFailure(response.status, detail, response.headers?.get('retry-after') ?? null);
    } catch (err) {
      // A non-JSON body (typically a 5xx page from a proxy) makes pdjs reject: retry.
      if ((err as { type?: unknown }).type === 'invalid-json') {
        return retryable(`response was not JSON: ${(err as Error).message}`, null, 'invalid-json');
      }
      return thrownFailure(err, signal);
    }
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export const pagerdutyChannel: ChannelModule<'pagerduty', PagerDutyTarget, PagerDutyOptions> = {
  name: 'pagerduty',
  secretFields: ['routingKey'],
  parseTarget(value) {
    const obj = targetObject(value, 'pagerduty');
    return {
      routingKey: requiredString(obj, 'routingKey', {
        pattern: /^[A-Za-z0-9_-]{8,64}$/,
        hint: 'must be a PagerDuty integration key (8-64 letters, digits, - or _)',
      }),
    };
  },
  describe: (target) => `PagerDuty routing key …${target.routingKey.slice(-4)}`,
  // Per incident: its events stay in order, other incidents of the service go in parallel.
  recipientKey: (target, message) =>
    `pagerduty:${digestOf(target.routingKey)}:${message.alertId ?? 'none'}`,
  targetRate: { key: (target) => `pagerduty:${digestOf(target.routingKey)}`, rate: PAGERDUTY_RATE },
  create: (options) => new PagerDutyChannel(options ?? {}),
};
