import type { RenderedMessage } from '../types.ts';
import {
  type Channel,
  type ChannelDeps,
  type ChannelModule,
  httpUrl,
  requiredString,
  type SendContext,
  TargetError,
  targetObject,
} from './channel.ts';
import { digestOf } from './hash.ts';
import { AddressRefusedError, GuardedHttpClient } from './http/guarded-request.ts';
import {
  DELIVERY_HEADER,
  IDEMPOTENCY_HEADER,
  SIGNATURE_HEADER,
  signatureOf,
  TIMESTAMP_HEADER,
} from './http/signature.ts';
import {
  type DeliveryOutcome,
  delivered,
  httpFailure,
  permanent,
  thrownFailure,
} from './outcome.ts';

/**
 * Custom webhook: POST the message as JSON to a user's URL, signed with the target's secret
 * (X-Gito-Signature over `${X-Gito-Timestamp}.${body}`), with an Idempotency-Key that stays the
 * same across retries. The address guard, timeout and no-redirect rule are GuardedHttpClient's.
 */

export interface WebhookTarget {
  readonly url: string;
  /** HMAC-SHA256 key shared with the receiver. */
  readonly secret: string;
}

export interface WebhookOptions {
  /** Whole request, connect to last byte. Default 10 s. */
  readonly timeoutMs?: number;
}

export const WEBHOOK_USER_AGENT = 'Gito-Webhook/1';

/** The JSON a webhook receives (version 1). */
export interface WebhookBody {
  readonly version: 1;
  readonly deliveryId: string | null;
  readonly idempotencyKey: string;
  readonly event: RenderedMessage['event'];
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly severity: string;
  readonly title: string;
  readonly text: string;
  readonly source: string;
  readonly links: RenderedMessage['links'];
  readonly occurredAt: string;
  readonly details: RenderedMessage['details'];
}

export function webhookBody(message: RenderedMessage, ctx: SendContext): WebhookBody {
  return {
    version: 1,
    deliveryId: ctx.deliveryId ?? null,
    idempotencyKey: ctx.idempotencyKey,
    event: message.event,
    tenantId: message.tenantId,
    alertId: message.alertId,
    severity: message.severity,
    title: message.title,
    text: message.body,
    source: message.source,
    links: message.links,
    occurredAt: new Date(message.occurredAt).toISOString(),
    details: message.details,
  };
}

class WebhookChannel implements Channel<WebhookTarget> {
  readonly name = 'webhook';
  private readonly http: GuardedHttpClient;
  private readonly timeoutMs: number;

  constructor(options: WebhookOptions, deps: ChannelDeps) {
    this.http = new GuardedHttpClient(deps.addressPolicy);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async send(
    message: RenderedMessage,
    target: WebhookTarget,
    ctx: SendContext,
  ): Promise<DeliveryOutcome> {
    const body = JSON.stringify(webhookBody(message, ctx));
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signatureOf(target.secret, timestamp, body),
      [IDEMPOTENCY_HEADER]: ctx.idempotencyKey,
      'X-Gito-Event': message.event,
    };
    if (ctx.deliveryId !== undefined) headers[DELIVERY_HEADER] = ctx.deliveryId;
    try {
      const res = await this.http.request({
        url: target.url,
        method: 'POST',
        headers,
        body,
        signal: ctx.signal,
        timeoutMs: this.timeoutMs,
        maxResponseBytes: 4096,
      });
      if (res.status >= 200 && res.status < 300) {
        const requestId = res.headers['x-request-id'];
        return delivered(typeof requestId === 'string' ? requestId : null, res.status);
      }
      if (res.status >= 300 && res.status < 400) {
        return permanent(
          `HTTP ${res.status}: redirect to ${res.headers.location ?? '(no location)'} not followed; configure the final URL`,
          res.status,
          'redirect',
        );
      }
      const retryAfter = res.headers['retry-after'];
      return httpFailure(res.status, res.body.slice(0, 200), retryAfter ?? null);
    } catch (err) {
      if (err instanceof AddressRefusedError)
        return permanent(err.message, null, 'address-refused');
      return thrownFailure(err, ctx.signal);
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

export const webhookChannel: ChannelModule<'webhook', WebhookTarget, WebhookOptions> = {
  name: 'webhook',
  secretFields: ['url', 'secret'],
  parseTarget(value) {
    const obj = targetObject(value, 'webhook');
    const url = httpUrl(obj, 'url');
    const secret = requiredString(obj, 'secret', { max: 500 });
    if (secret.length < 16) throw new TargetError('secret', 'must be at least 16 characters');
    return { url, secret };
  },
  describe: (target) => new URL(target.url).origin,
  recipientKey: (target) => `webhook:${digestOf(target.url)}`,
  create: (options, deps) => new WebhookChannel(options ?? {}, deps),
};
