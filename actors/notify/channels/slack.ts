import {
  type FetchFunction,
  IncomingWebhook,
  IncomingWebhookHTTPError,
  IncomingWebhookRequestError,
} from '@slack/webhook';
import type { RenderedMessage } from '../types.ts';
import {
  type Channel,
  type ChannelDeps,
  type ChannelModule,
  httpUrl,
  optionalString,
  type SendContext,
  targetObject,
} from './channel.ts';
import { digestOf } from './hash.ts';
import {
  AddressRefusedError,
  GuardedHttpClient,
  type GuardedResponse,
} from './http/guarded-request.ts';
import {
  type DeliveryOutcome,
  delivered,
  httpFailure,
  permanent,
  thrownFailure,
} from './outcome.ts';

/**
 * Slack incoming webhooks through @slack/webhook. Version 8 hides response headers, so its
 * `fetch` option gets our guarded HTTP client (same SSRF rules as custom webhooks), and the
 * wrapper keeps the last response to read a 429's Retry-After. The library's own retries are
 * off: the dispatcher retries.
 */

export interface SlackTarget {
  /** https://hooks.slack.com/services/...: a secret. */
  readonly webhookUrl: string;
  /** Display label, e.g. '#ops' (incoming webhooks post to the channel they were made for). */
  readonly label?: string;
}

export interface SlackOptions {
  readonly timeoutMs?: number;
}

/** Severity colours of the attachment bar. */
const COLOURS: Record<string, string> = {
  critical: '#d00000',
  major: '#e85d04',
  minor: '#f48c06',
  warning: '#ffba08',
  info: '#3a86ff',
};

/** Slack mrkdwn link text may not contain '|' or '>'. */
const linkText = (text: string): string => text.replace(/[|>]/g, ' ');

export function slackPayload(message: RenderedMessage): {
  text: string;
  attachments: { color: string; text: string; fallback: string }[];
} {
  const links = message.links.map((l) => `<${l.href}|${linkText(l.text ?? l.href)}>`).join('  ');
  const body = links === '' ? message.body : `${message.body}\n${links}`;
  return {
    text: message.title,
    attachments: [{ color: COLOURS[message.severity] ?? '#888888', text: body, fallback: body }],
  };
}

class SlackChannel implements Channel<SlackTarget> {
  readonly name = 'slack';
  private readonly http: GuardedHttpClient;
  private readonly timeoutMs: number;

  constructor(options: SlackOptions, deps: ChannelDeps) {
    this.http = new GuardedHttpClient(deps.addressPolicy);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async send(
    message: RenderedMessage,
    target: SlackTarget,
    ctx: SendContext,
  ): Promise<DeliveryOutcome> {
    let last: GuardedResponse | undefined;
    const fetchFn: FetchFunction = async (url, init) => {
      const signals = [ctx.signal, init?.signal].filter((s): s is AbortSignal => s !== undefined);
      const res = await this.http.request({
        url: String(url),
        method: init?.method ?? 'POST',
        headers: init?.headers ?? {},
        body: typeof init?.body === 'string' ? init.body : undefined,
        signal: AbortSignal.any(signals),
        timeoutMs: this.timeoutMs,
        maxResponseBytes: 4096,
      });
      last = res;
      return fetchResponse(res, String(url));
    };
    const webhook = new IncomingWebhook(target.webhookUrl, {
      fetch: fetchFn,
      timeout: this.timeoutMs,
      retryConfig: { retries: 0 },
    });
    try {
      await webhook.send(slackPayload(message));
      return delivered(null, last?.status ?? 200);
    } catch (err) {
      if (err instanceof IncomingWebhookHTTPError) {
        if (err.statusCode >= 300 && err.statusCode < 400) {
          return permanent(
            `HTTP ${err.statusCode}: redirect not followed`,
            err.statusCode,
            'redirect',
          );
        }
        // Slack answers errors as text: invalid_payload, channel_not_found, no_service...
        const code = /^[a-z_]{3,60}$/.test(err.body.trim()) ? err.body.trim() : null;
        return httpFailure(err.statusCode, err.body.slice(0, 200), retryAfterOf(last), code);
      }
      const cause = err instanceof IncomingWebhookRequestError ? err.original : err;
      if (cause instanceof AddressRefusedError) {
        return permanent(cause.message, null, 'address-refused');
      }
      return thrownFailure(cause, ctx.signal);
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

function retryAfterOf(res: GuardedResponse | undefined): string | null {
  const value = res?.headers['retry-after'];
  return typeof value === 'string' ? value : null;
}

/** Our response in the shape @slack/webhook's FetchFunction returns. */
function fetchResponse(res: GuardedResponse, url: string): Awaited<ReturnType<FetchFunction>> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
  }
  return {
    ok: res.status >= 200 && res.status < 300,
    status: res.status,
    statusText: res.statusText,
    url,
    headers,
    text: async () => res.body,
    json: async () => JSON.parse(res.body) as unknown,
    arrayBuffer: async () => new TextEncoder().encode(res.body).buffer as ArrayBuffer,
  };
}

export const slackChannel: ChannelModule<'slack', SlackTarget, SlackOptions> = {
  name: 'slack',
  secretFields: ['webhookUrl'],
  parseTarget(value) {
    const obj = targetObject(value, 'slack');
    const webhookUrl = httpUrl(obj, 'webhookUrl');
    const label = optionalString(obj, 'label');
    return label === undefined ? { webhookUrl } : { webhookUrl, label };
  },
  describe: (target) => target.label ?? `Slack webhook ${new URL(target.webhookUrl).host}`,
  recipientKey: (target) => `slack:${digestOf(target.webhookUrl)}`,
  create: (options, deps) => new SlackChannel(options ?? {}, deps),
};
