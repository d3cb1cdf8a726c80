import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { Rate } from './channels/channel.ts';
import type { SmtpTls } from './channels/email.ts';
import { AddressPolicy } from './channels/http/address-policy.ts';
import type { ChannelsOptions } from './channels/registry.ts';
import { DEFAULT_BACKOFF } from './delivery/backoff.ts';
import type { RateLimitOptions } from './delivery/dispatcher.ts';
import { DEFAULT_OUTBOX } from './delivery/outbox.ts';
import { parseRate } from './delivery/rate-limiter.ts';

/**
 * Notification settings from environment variables. app/config.ts owns the process's
 * configuration; it calls notifyConfigFromEnv and lists NOTIFY_CONFIG_VARIABLES in its
 * catalogue. A bad value throws an Error naming the variable.
 */

export interface NotifyConfig {
  readonly smtp:
    | {
        readonly host: string;
        readonly port: number | undefined;
        readonly tls: SmtpTls;
        readonly user: string | undefined;
        readonly password: string | undefined;
        readonly from: string;
      }
    | undefined;
  readonly twilio:
    | {
        readonly accountSid: string;
        readonly authToken: string;
        readonly from: string | undefined;
        readonly messagingServiceSid: string | undefined;
        readonly apiUrl: string | undefined;
      }
    | undefined;
  readonly pagerduty: {
    readonly server: string;
    readonly caFile: string | undefined;
  };
  /** GITO_WEBHOOK_ALLOW, parsed. */
  readonly webhookAllow: readonly string[];
  readonly httpTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxAgeMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly pollIntervalMs: number;
  readonly rateLimits: RateLimitOptions;
}

export interface NotifyConfigVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

export const NOTIFY_CONFIG_VARIABLES: readonly NotifyConfigVariable[] = [
  {
    name: 'GITO_SMTP_HOST',
    default: '',
    description: 'SMTP server for e-mail (empty: e-mail off)',
  },
  {
    name: 'GITO_SMTP_PORT',
    default: '587',
    description: 'SMTP port (465 with GITO_SMTP_TLS=implicit)',
  },
  {
    name: 'GITO_SMTP_TLS',
    default: 'starttls',
    description:
      'starttls (when offered), require (STARTTLS or fail), implicit (TLS on connect), none',
  },
  { name: 'GITO_SMTP_USER', default: '', description: 'SMTP user (empty: no authentication)' },
  { name: 'GITO_SMTP_PASSWORD', default: '', description: 'SMTP password' },
  { name: 'GITO_SMTP_FROM', default: '', description: "Sender, e.g. 'Gito <alerts@example.com>'" },
  {
    name: 'GITO_TWILIO_ACCOUNT_SID',
    default: '',
    description: 'Twilio account (AC...; empty: SMS off)',
  },
  { name: 'GITO_TWILIO_AUTH_TOKEN', default: '', description: 'Twilio auth token' },
  { name: 'GITO_TWILIO_FROM', default: '', description: 'SMS sender number (E.164)' },
  {
    name: 'GITO_TWILIO_MESSAGING_SERVICE_SID',
    default: '',
    description: 'Twilio messaging service (instead of GITO_TWILIO_FROM)',
  },
  {
    name: 'GITO_TWILIO_API_URL',
    default: '',
    description: 'Replaces https://api.twilio.com (a proxy; tests)',
  },
  {
    name: 'GITO_PAGERDUTY_SERVER',
    default: 'events.pagerduty.com',
    description: 'Events API v2 host[:port] (https)',
  },
  {
    name: 'GITO_PAGERDUTY_CA_FILE',
    default: '',
    description: 'PEM file of a private CA for the PagerDuty server (a proxy; tests)',
  },
  {
    name: 'GITO_WEBHOOK_ALLOW',
    default: '',
    description:
      'CIDRs and host names webhook and Slack URLs may reach although private or loopback',
  },
  {
    name: 'GITO_NOTIFY_HTTP_TIMEOUT_MS',
    default: '10000',
    description: 'Timeout of one webhook, Slack, Twilio or PagerDuty request',
  },
  { name: 'GITO_NOTIFY_MAX_ATTEMPTS', default: '20', description: 'Attempts per delivery' },
  {
    name: 'GITO_NOTIFY_MAX_AGE_MS',
    default: '86400000',
    description: 'A delivery not sent within this is failed',
  },
  {
    name: 'GITO_NOTIFY_BACKOFF_BASE_MS',
    default: '1000',
    description: 'First retry waits up to this (full jitter), doubling per attempt',
  },
  { name: 'GITO_NOTIFY_BACKOFF_MAX_MS', default: '300000', description: 'Longest retry wait' },
  {
    name: 'GITO_NOTIFY_LEASE_MS',
    default: '60000',
    description: 'A delivery claimed by a node that stops answering is taken over after this',
  },
  {
    name: 'GITO_NOTIFY_CONCURRENCY',
    default: '32',
    description: 'Recipients sent to at once per node',
  },
  {
    name: 'GITO_NOTIFY_POLL_MS',
    default: '1000',
    description: 'Due deliveries are looked for this often',
  },
  {
    name: 'GITO_NOTIFY_RATE_TENANT',
    default: '',
    description: "Per-node limit per tenant, all channels (e.g. '20/s'; empty: none)",
  },
  {
    name: 'GITO_NOTIFY_RATE_<CHANNEL>',
    default: 'sms: 10/s, others none',
    description: 'Per-node limit per channel (EMAIL, SMS, SLACK, WEBHOOK, PAGERDUTY), e.g. 5/s',
  },
];

type Env = Readonly<Record<string, string | undefined>>;

const get = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
};

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = get(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

function rate(env: Env, name: string, fallback?: Rate): Rate | undefined {
  const text = get(env, name);
  if (text === undefined) return fallback;
  try {
    return parseRate(text);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

const CHANNEL_RATE_DEFAULTS: Record<string, Rate | undefined> = {
  sms: { count: 10, intervalMs: 1000 },
};

export function notifyConfigFromEnv(env: Env = process.env): NotifyConfig {
  const tls = get(env, 'GITO_SMTP_TLS') ?? 'starttls';
  if (!['starttls', 'require', 'implicit', 'none'].includes(tls)) {
    throw new Error(`GITO_SMTP_TLS must be starttls, require, implicit or none, got '${tls}'`);
  }
  const smtpHost = get(env, 'GITO_SMTP_HOST');
  if (smtpHost !== undefined && get(env, 'GITO_SMTP_FROM') === undefined) {
    throw new Error('GITO_SMTP_FROM is required when GITO_SMTP_HOST is set');
  }
  const sid = get(env, 'GITO_TWILIO_ACCOUNT_SID');
  if (sid !== undefined) {
    if (!sid.startsWith('AC')) throw new Error('GITO_TWILIO_ACCOUNT_SID must start with AC');
    if (get(env, 'GITO_TWILIO_AUTH_TOKEN') === undefined) {
      throw new Error('GITO_TWILIO_AUTH_TOKEN is required when GITO_TWILIO_ACCOUNT_SID is set');
    }
    if (
      get(env, 'GITO_TWILIO_FROM') === undefined &&
      get(env, 'GITO_TWILIO_MESSAGING_SERVICE_SID') === undefined
    ) {
      throw new Error('set GITO_TWILIO_FROM or GITO_TWILIO_MESSAGING_SERVICE_SID for SMS');
    }
  }
  const apiUrl = get(env, 'GITO_TWILIO_API_URL');
  if (apiUrl !== undefined && !URL.canParse(apiUrl)) {
    throw new Error(`GITO_TWILIO_API_URL is not a URL: '${apiUrl}'`);
  }
  const allow = (get(env, 'GITO_WEBHOOK_ALLOW') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    new AddressPolicy(allow);
  } catch (err) {
    throw new Error(`GITO_WEBHOOK_ALLOW: ${(err as Error).message}`);
  }
  const perChannel: Record<string, Rate> = {};
  for (const channel of ['email', 'sms', 'slack', 'webhook', 'pagerduty']) {
    const r = rate(
      env,
      `GITO_NOTIFY_RATE_${channel.toUpperCase()}`,
      CHANNEL_RATE_DEFAULTS[channel],
    );
    if (r !== undefined) perChannel[channel] = r;
  }
  const perTenant = rate(env, 'GITO_NOTIFY_RATE_TENANT');
  const leaseMs = int(env, 'GITO_NOTIFY_LEASE_MS', 60_000, 5_000, 3_600_000);
  const httpTimeoutMs = int(env, 'GITO_NOTIFY_HTTP_TIMEOUT_MS', 10_000, 100, 120_000);
  if (leaseMs <= httpTimeoutMs * 2) {
    throw new Error('GITO_NOTIFY_LEASE_MS must exceed twice GITO_NOTIFY_HTTP_TIMEOUT_MS');
  }
  return {
    smtp:
      smtpHost === undefined
        ? undefined
        : {
            host: smtpHost,
            port:
              get(env, 'GITO_SMTP_PORT') === undefined
                ? undefined
                : int(env, 'GITO_SMTP_PORT', 587, 1, 65535),
            tls: tls as SmtpTls,
            user: get(env, 'GITO_SMTP_USER'),
            password: get(env, 'GITO_SMTP_PASSWORD'),
            from: get(env, 'GITO_SMTP_FROM')!,
          },
    twilio:
      sid === undefined
        ? undefined
        : {
            accountSid: sid,
            authToken: get(env, 'GITO_TWILIO_AUTH_TOKEN')!,
            from: get(env, 'GITO_TWILIO_FROM'),
            messagingServiceSid: get(env, 'GITO_TWILIO_MESSAGING_SERVICE_SID'),
            apiUrl,
          },
    pagerduty: {
      server: get(env, 'GITO_PAGERDUTY_SERVER') ?? 'events.pagerduty.com',
      caFile: get(env, 'GITO_PAGERDUTY_CA_FILE'),
    },
    webhookAllow: allow,
    httpTimeoutMs,
    maxAttempts: int(env, 'GITO_NOTIFY_MAX_ATTEMPTS', DEFAULT_OUTBOX.maxAttempts, 1, 1000),
    maxAgeMs: int(env, 'GITO_NOTIFY_MAX_AGE_MS', DEFAULT_OUTBOX.maxAgeMs, 1000, 30 * 86_400_000),
    backoffBaseMs: int(env, 'GITO_NOTIFY_BACKOFF_BASE_MS', DEFAULT_BACKOFF.baseMs, 1, 3_600_000),
    backoffMaxMs: int(env, 'GITO_NOTIFY_BACKOFF_MAX_MS', DEFAULT_BACKOFF.maxMs, 1, 86_400_000),
    leaseMs,
    concurrency: int(env, 'GITO_NOTIFY_CONCURRENCY', 32, 1, 10_000),
    pollIntervalMs: int(env, 'GITO_NOTIFY_POLL_MS', 1000, 10, 60_000),
    rateLimits: { perChannel, ...(perTenant === undefined ? {} : { perTenant }) },
  };
}

/** Channel options for createChannels (reads the PagerDuty CA file, if any). */
export function channelsOptionsFromConfig(config: NotifyConfig): ChannelsOptions {
  const timeoutMs = config.httpTimeoutMs;
  const ca =
    config.pagerduty.caFile === undefined ? undefined : readFileSync(config.pagerduty.caFile);
  return {
    ...(config.smtp === undefined ? {} : { email: { ...config.smtp, timeoutMs } }),
    ...(config.twilio === undefined ? {} : { sms: { ...config.twilio, timeoutMs } }),
    slack: { timeoutMs },
    webhook: { timeoutMs },
    pagerduty: {
      server: config.pagerduty.server,
      timeoutMs: timeoutMs * 1.5,
      ...(ca === undefined ? {} : { agent: new Agent({ ca, keepAlive: true }) }),
    },
  };
}
