import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient.js';
import type TwilioResponse from 'twilio/lib/http/response.js';
import type { RenderedMessage } from '../types.ts';
import {
  type Channel,
  type ChannelModule,
  requiredString,
  type SendContext,
  targetObject,
} from './channel.ts';
import {
  type DeliveryOutcome,
  delivered,
  httpFailure,
  permanent,
  retryable,
  thrownFailure,
} from './outcome.ts';

/**
 * SMS through Twilio's Messages API (the twilio package). Twilio has no base-URL option; its
 * supported hook is `httpClient`: GitoTwilioHttpClient below rewrites the origin (apiUrl, for a
 * proxy or the test fake), passes the attempt's abort signal to axios, and keeps each call's
 * response status and headers in AsyncLocalStorage, so concurrent sends each read their own
 * Retry-After (the client's shared `lastResponse` would race).
 */

export interface SmsTarget {
  /** E.164, e.g. +4915112345678. */
  readonly to: string;
}

export interface SmsOptions {
  /** Starts with AC. */
  readonly accountSid: string;
  readonly authToken: string;
  /** Sender number (E.164) or alphanumeric id; or messagingServiceSid instead. */
  readonly from?: string;
  readonly messagingServiceSid?: string;
  /** Replaces https://api.twilio.com (scheme, host, port). */
  readonly apiUrl?: string;
  readonly timeoutMs?: number;
}

/** Longest body Twilio accepts. */
export const SMS_MAX_CHARS = 1600;

const E164 = /^\+[1-9]\d{6,14}$/;

interface CallRecord {
  readonly signal: AbortSignal;
  status?: number;
  headers?: Record<string, unknown>;
}

export class GitoTwilioHttpClient extends RequestClient {
  private readonly calls = new AsyncLocalStorage<CallRecord>();
  private readonly origin: URL | undefined;

  constructor(options: { apiUrl?: string; timeoutMs?: number }) {
    super({ timeout: options.timeoutMs ?? 10_000, keepAlive: true });
    this.origin = options.apiUrl === undefined ? undefined : new URL(options.apiUrl);
    this.axios.interceptors.request.use((config) => {
      const call = this.calls.getStore();
      if (call !== undefined) config.signal = call.signal;
      return config;
    });
  }

  override async request<TData>(
    opts: RequestClient.RequestOptions<TData>,
  ): Promise<TwilioResponse.default<TData>> {
    let uri = opts.uri;
    if (this.origin !== undefined) {
      const url = new URL(uri);
      url.protocol = this.origin.protocol;
      url.host = this.origin.host;
      uri = url.toString();
    }
    const res = await super.request({ ...opts, uri });
    const call = this.calls.getStore();
    if (call !== undefined) {
      call.status = res.statusCode;
      call.headers = res.headers as Record<string, unknown>;
    }
    return res;
  }

  /** Runs `fn` (one API call) with its own signal and response record. */
  track<T>(signal: AbortSignal, fn: () => Promise<T>): { record: CallRecord; result: Promise<T> } {
    const record: CallRecord = { signal };
    return { record, result: this.calls.run(record, fn) };
  }
}

/** Twilio's error: RestException or TwilioServiceException (RFC 9457), both with status/code. */
function twilioError(
  err: unknown,
): { status: number; code: number | null; message: string } | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const { status, code, message } = err as { status?: unknown; code?: unknown; message?: unknown };
  if (typeof status !== 'number') return undefined;
  return {
    status,
    code: typeof code === 'number' ? code : null,
    message: typeof message === 'string' ? message : `HTTP ${status}`,
  };
}

class SmsChannel implements Channel<SmsTarget> {
  readonly name = 'sms';
  private readonly http: GitoTwilioHttpClient;
  private readonly client: twilio.Twilio;

  constructor(private readonly options: SmsOptions) {
    this.http = new GitoTwilioHttpClient(options);
    this.client = twilio(options.accountSid, options.authToken, { httpClient: this.http });
  }

  async send(
    message: RenderedMessage,
    target: SmsTarget,
    ctx: SendContext,
  ): Promise<DeliveryOutcome> {
    const body =
      message.body.length > SMS_MAX_CHARS
        ? `${message.body.slice(0, SMS_MAX_CHARS - 1)}…`
        : message.body;
    const sender =
      this.options.messagingServiceSid !== undefined
        ? { messagingServiceSid: this.options.messagingServiceSid }
        : { from: this.options.from ?? '' };
    const { record, result } = this.http.track(ctx.signal, () =>
      this.client.messages.create({ to: target.to, body, ...sender }),
    );
    try {
      const sent = await result;
      return delivered(sent.sid, record.status ?? 201);
    } catch (err) {
      const rest = twilioError(err);
      if (rest === undefined) return thrownFailure(err, ctx.signal);
      const retryAfter = record.headers?.['retry-after'];
      const code = rest.code === null ? null : String(rest.code);
      // 401: Gito's credentials are wrong; the operator can fix them, so keep trying.
      if (rest.status === 401) {
        return retryable(`HTTP 401: ${rest.message} (check the Twilio credentials)`, 401, code);
      }
      if (rest.status >= 300 && rest.status < 400) {
        return permanent(`HTTP ${rest.status}: redirect not followed`, rest.status, code);
      }
      return httpFailure(
        rest.status,
        rest.message,
        typeof retryAfter === 'string' ? retryAfter : null,
        code,
      );
    }
  }
}

export const smsChannel: ChannelModule<'sms', SmsTarget, SmsOptions> = {
  name: 'sms',
  secretFields: [],
  parseTarget(value) {
    const obj = targetObject(value, 'sms');
    return {
      to: requiredString(obj, 'to', {
        pattern: E164,
        hint: 'must be an E.164 number like +4915112345678',
      }),
    };
  },
  describe: (target) => target.to,
  recipientKey: (target) => `sms:${target.to}`,
  create(options) {
    if (options === undefined) return undefined;
    if (!options.accountSid.startsWith('AC')) {
      throw new Error(
        `sms: accountSid must start with AC, got '${options.accountSid.slice(0, 4)}…'`,
      );
    }
    if (options.authToken === '') throw new Error('sms: authToken is required');
    if (options.from === undefined && options.messagingServiceSid === undefined) {
      throw new Error('sms: set from (a sender number) or messagingServiceSid');
    }
    return new SmsChannel(options);
  },
};
