import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../actors/notify/channels/outcome.ts';
import { channelsOptionsFromConfig, notifyConfigFromEnv } from '../../actors/notify/config.ts';
import { backoffDelay } from '../../actors/notify/delivery/backoff.ts';
import { parseRate, TokenBuckets } from '../../actors/notify/delivery/rate-limiter.ts';

describe('notification configuration', () => {
  it('has working defaults: webhook, Slack and PagerDuty on; e-mail and SMS off', () => {
    const config = notifyConfigFromEnv({});
    expect(config.smtp).toBeUndefined();
    expect(config.twilio).toBeUndefined();
    expect(config.rateLimits.perChannel).toEqual({ sms: { count: 10, intervalMs: 1000 } });
    const options = channelsOptionsFromConfig(config);
    expect(Object.keys(options).sort()).toEqual(['pagerduty', 'slack', 'webhook']);
  });

  it('reads SMTP, Twilio and limits', () => {
    const config = notifyConfigFromEnv({
      GITO_SMTP_HOST: 'smtp.example.com',
      GITO_SMTP_TLS: 'implicit',
      GITO_SMTP_FROM: 'Gito <a@example.com>',
      GITO_TWILIO_ACCOUNT_SID: 'AC123',
      GITO_TWILIO_AUTH_TOKEN: 'tok',
      GITO_TWILIO_FROM: '+15005550006',
      GITO_WEBHOOK_ALLOW: '10.0.0.0/8, hooks.internal',
      GITO_NOTIFY_RATE_TENANT: '20/s',
      GITO_NOTIFY_RATE_PAGERDUTY: '120/min',
    });
    expect(config.smtp).toMatchObject({
      host: 'smtp.example.com',
      tls: 'implicit',
      port: undefined,
    });
    expect(config.twilio).toMatchObject({ accountSid: 'AC123', from: '+15005550006' });
    expect(config.webhookAllow).toEqual(['10.0.0.0/8', 'hooks.internal']);
    expect(config.rateLimits.perTenant).toEqual({ count: 20, intervalMs: 1000 });
    expect(config.rateLimits.perChannel?.pagerduty).toEqual({ count: 120, intervalMs: 60_000 });
  });

  it.each([
    [{ GITO_SMTP_TLS: 'maybe' }, /GITO_SMTP_TLS/],
    [{ GITO_SMTP_HOST: 'x' }, /GITO_SMTP_FROM/],
    [{ GITO_TWILIO_ACCOUNT_SID: 'XX' }, /GITO_TWILIO_ACCOUNT_SID/],
    [{ GITO_TWILIO_ACCOUNT_SID: 'AC1', GITO_TWILIO_AUTH_TOKEN: 't' }, /GITO_TWILIO_FROM/],
    [{ GITO_WEBHOOK_ALLOW: '10.0.0.0/99' }, /GITO_WEBHOOK_ALLOW/],
    [{ GITO_NOTIFY_RATE_SMS: 'fast' }, /GITO_NOTIFY_RATE_SMS/],
    [{ GITO_NOTIFY_MAX_ATTEMPTS: '0' }, /GITO_NOTIFY_MAX_ATTEMPTS/],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => notifyConfigFromEnv(env)).toThrow(message);
  });
});

describe('delivery timing helpers', () => {
  it('backoff: full jitter under a doubling, capped ceiling; Retry-After is a floor', () => {
    const options = { baseMs: 1000, maxMs: 8000 };
    expect(backoffDelay(1, options, () => 0.5)).toBe(500);
    expect(backoffDelay(3, options, () => 0.5)).toBe(2000);
    expect(backoffDelay(10, options, () => 0.999)).toBe(7992);
    expect(backoffDelay(1, options, () => 0)).toBe(0);
    expect(backoffDelay(1, options, () => 0.5, 30_000)).toBe(30_000);
  });

  it('Retry-After: seconds or an HTTP date, capped', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('999999', now)).toBe(3_600_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('token buckets: a burst of `count`, then one token per interval; all-or-nothing', () => {
    const buckets = new TokenBuckets();
    const rate = { count: 2, intervalMs: 1000 };
    expect(buckets.take([{ key: 'a', rate }], 0)).toBe(0);
    expect(buckets.take([{ key: 'a', rate }], 0)).toBe(0);
    expect(buckets.take([{ key: 'a', rate }], 0)).toBe(500);
    expect(buckets.take([{ key: 'a', rate }], 500)).toBe(0);
    // 'b' has tokens but 'a' does not: nothing is taken from 'b'.
    const both = [
      { key: 'b', rate: { count: 1, intervalMs: 1000 } },
      { key: 'a', rate },
    ];
    expect(buckets.take(both, 500)).toBe(500);
    expect(buckets.take([{ key: 'b', rate: { count: 1, intervalMs: 1000 } }], 500)).toBe(0);
  });

  it('parses rates', () => {
    expect(parseRate('120/min')).toEqual({ count: 120, intervalMs: 60_000 });
    expect(parseRate('5/s')).toEqual({ count: 5, intervalMs: 1000 });
    expect(() => parseRate('0/s')).toThrow();
  });
});
