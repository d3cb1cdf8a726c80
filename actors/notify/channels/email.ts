import nodemailer, { type Transporter } from 'nodemailer';
import type { RenderedMessage } from '../types.ts';
import {
  type Channel,
  type ChannelModule,
  optionalString,
  requiredString,
  type SendContext,
  targetObject,
} from './channel.ts';
import { digestOf } from './hash.ts';
import {
  type DeliveryOutcome,
  delivered,
  errorMessage,
  permanent,
  retryable,
  thrownFailure,
} from './outcome.ts';

/**
 * E-mail over SMTP with nodemailer (a pooled transport). The Message-ID derives from the
 * delivery's idempotency key, so a message re-sent after a crash carries the same id (mail
 * systems that deduplicate by Message-ID, Gmail among them, show it once).
 */

export interface EmailTarget {
  readonly to: string;
  readonly name?: string;
}

/**
 * - starttls: upgrade when the server offers STARTTLS (port 587 or 25), else plain;
 * - require: refuse a server without STARTTLS;
 * - implicit: TLS from the first byte (port 465);
 * - none: never TLS (a local relay).
 */
export type SmtpTls = 'starttls' | 'require' | 'implicit' | 'none';

export interface EmailOptions {
  readonly host: string;
  readonly port?: number;
  readonly tls?: SmtpTls;
  readonly user?: string;
  readonly password?: string;
  /** Sender, e.g. 'Gito <alerts@example.com>'. */
  readonly from: string;
  /** Connection, greeting and socket inactivity timeouts. Default 10 s. */
  readonly timeoutMs?: number;
  /** Verify the server's certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  /** Pooled connections. Default 5. */
  readonly maxConnections?: number;
}

const ADDRESS = /^[^\s@<>()",;:]{1,64}@[^\s@<>()",;:]{1,255}$/;

/** SMTP error fields nodemailer sets. */
interface SmtpError {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

function messageText(message: RenderedMessage): string {
  const links = message.links.map((l) => (l.text === undefined ? l.href : `${l.text}: ${l.href}`));
  return links.length === 0 ? message.body : `${message.body}\n\n${links.join('\n')}`;
}

/** A header must be one line. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 900);

class EmailChannel implements Channel<EmailTarget> {
  readonly name = 'email';
  private readonly transport: Transporter;

  constructor(private readonly options: EmailOptions) {
    const tls = options.tls ?? 'starttls';
    const timeout = options.timeoutMs ?? 10_000;
    this.transport = nodemailer.createTransport({
      host: options.host,
      port: options.port ?? (tls === 'implicit' ? 465 : 587),
      secure: tls === 'implicit',
      requireTLS: tls === 'require',
      ignoreTLS: tls === 'none',
      auth:
        options.user === undefined
          ? undefined
          : { user: options.user, pass: options.password ?? '' },
      pool: true,
      maxConnections: options.maxConnections ?? 5,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      tls: { rejectUnauthorized: options.rejectUnauthorized ?? true },
    });
  }

  async send(
    message: RenderedMessage,
    target: EmailTarget,
    ctx: SendContext,
  ): Promise<DeliveryOutcome> {
    const messageId = `<${digestOf(`${message.tenantId}:${ctx.idempotencyKey}`)}@gito.notify>`;
    const sending = this.transport.sendMail({
      from: this.options.from,
      to: target.name === undefined ? target.to : { name: target.name, address: target.to },
      subject: oneLine(message.title),
      text: messageText(message),
      messageId,
      headers: {
        'X-Gito-Idempotency-Key': ctx.idempotencyKey,
        'X-Gito-Event': message.event,
        'X-Gito-Severity': message.severity,
      },
    });
    try {
      // A pooled send cannot be cancelled; the abort only stops waiting for it.
      const info = await raceAbort(sending, ctx.signal);
      const code = /^(\d{3})/.exec(String(info.response ?? ''));
      return delivered(String(info.messageId ?? messageId), code === null ? 250 : Number(code[1]));
    } catch (err) {
      sending.catch(() => {});
      return smtpFailure(err, ctx.signal);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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

/**
 * SMTP replies: 4xx are transient by definition (RFC 5321), 5xx permanent, except an
 * authentication failure (535, EAUTH): that is Gito's configuration, which an operator can fix,
 * so those keep retrying. No reply at all (connection, TLS, timeout): retryable.
 */
export function smtpFailure(err: unknown, signal?: AbortSignal): DeliveryOutcome {
  const e = (err ?? {}) as SmtpError;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  const text = `${e.command === undefined ? '' : `${e.command}: `}${e.response ?? errorMessage(err)}`;
  if (e.code === 'EAUTH') return retryable(`authentication failed: ${text}`, responseCode, 'EAUTH');
  if (responseCode !== null && responseCode >= 400 && responseCode < 500) {
    return retryable(text, responseCode, e.code ?? null);
  }
  if (responseCode !== null && responseCode >= 500) {
    return permanent(text, responseCode, e.code ?? null);
  }
  return thrownFailure(err, signal);
}

export const emailChannel: ChannelModule<'email', EmailTarget, EmailOptions> = {
  name: 'email',
  secretFields: [],
  parseTarget(value) {
    const obj = targetObject(value, 'email');
    const to = requiredString(obj, 'to', {
      pattern: ADDRESS,
      max: 320,
      hint: 'must be an e-mail address',
    });
    const name = optionalString(obj, 'name');
    return name === undefined ? { to } : { to, name };
  },
  describe: (target) => target.to,
  recipientKey: (target) => `email:${target.to.toLowerCase()}`,
  create(options) {
    if (options === undefined || options.host === '') return undefined;
    if (options.from === '') throw new Error('email: from (the sender address) is required');
    return new EmailChannel(options);
  },
};
