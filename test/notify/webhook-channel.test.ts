import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../actors/notify/channels/http/address-policy.ts';
import { webhookChannel } from '../../actors/notify/channels/webhook.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { FakeWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { loopbackDeps, message, sendContext } from './helpers.ts';

describe('webhook channel', () => {
  const receiver = new FakeWebhookReceiver();
  const channel = webhookChannel.create({ timeoutMs: 2000 }, loopbackDeps)!;
  let target: { url: string; secret: string };

  beforeAll(async () => {
    await receiver.start();
    target = webhookChannel.parseTarget({ url: receiver.url, secret: receiver.secret });
  });
  afterAll(async () => {
    await channel.close?.();
    await receiver.stop();
  });
  beforeEach(() => {
    receiver.reset();
  });

  it('posts signed JSON with an idempotency key the receiver verifies', async () => {
    const outcome = await channel.send(message(), target, sendContext(5000, 'alert:42:l0:r0'));
    expect(outcome).toMatchObject({ kind: 'delivered', statusCode: 200 });
    expect(receiver.badSignatures).toHaveLength(0);
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.idempotencyKey).toBe('alert:42:l0:r0');
    expect(got.body).toMatchObject({
      version: 1,
      event: 'firing',
      tenantId: 'acme',
      alertId: '42',
      severity: 'critical',
      title: '[critical] Freezer too warm on Freezer 3',
      idempotencyKey: 'alert:42:l0:r0',
      occurredAt: '2026-01-01T12:00:00.000Z',
    });
    const req = receiver.requests[0]!;
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-gito-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it('a receiver with another secret refuses it (401 is permanent)', async () => {
    const wrong = webhookChannel.parseTarget({
      url: receiver.url,
      secret: 'not-the-receivers-secret',
    });
    const outcome = await channel.send(message(), wrong, sendContext());
    expect(outcome).toMatchObject({ kind: 'permanent', statusCode: 401 });
    expect(receiver.badSignatures).toHaveLength(1);
    expect(receiver.received).toHaveLength(0);
  });

  it('429 is retryable with the Retry-After', async () => {
    receiver.script({ mode: 'status', status: 429, retryAfter: '17' });
    const outcome = await channel.send(message(), target, sendContext());
    expect(outcome).toMatchObject({ kind: 'retryable', statusCode: 429, retryAfterMs: 17_000 });
  });

  it('5xx is retryable, 4xx permanent, 3xx permanent (not followed)', async () => {
    receiver.script(
      { mode: 'status', status: 503 },
      { mode: 'status', status: 422, body: '{"error":"no"}' },
      { mode: 'status', status: 302, headers: { location: 'http://169.254.169.254/' } },
    );
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 503,
    });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'permanent',
      statusCode: 422,
    });
    const redirect = await channel.send(message(), target, sendContext());
    expect(redirect).toMatchObject({ kind: 'permanent', statusCode: 302, code: 'redirect' });
    expect(receiver.requests).toHaveLength(3);
  });

  it('a reset connection and a timeout are retryable', async () => {
    receiver.script({ mode: 'reset' });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'ECONNRESET',
    });
    const quick = webhookChannel.create({ timeoutMs: 100 }, loopbackDeps)!;
    receiver.script({ mode: 'slow', delayMs: 2000 });
    expect(await quick.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'timeout',
    });
    await quick.close?.();
  });

  it('refuses loopback without an allowlist entry (permanent, nothing sent)', async () => {
    const strict = webhookChannel.create(
      {},
      { logger: silentLogger, addressPolicy: new AddressPolicy() },
    )!;
    const outcome = await strict.send(message(), target, sendContext());
    expect(outcome).toMatchObject({ kind: 'permanent', code: 'address-refused' });
    if (outcome.kind === 'permanent') expect(outcome.reason).toContain('loopback');
    const byName = await strict.send(
      message(),
      { ...target, url: `http://localhost:${receiver.port}/hooks/gito` },
      sendContext(),
    );
    expect(byName).toMatchObject({ kind: 'permanent', code: 'address-refused' });
    expect(receiver.requests).toHaveLength(0);
    await strict.close?.();
  });

  it('refused connection is retryable', async () => {
    const closed = new FakeWebhookReceiver();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    const outcome = await channel.send(message(), { ...target, url }, sendContext());
    expect(outcome).toMatchObject({ kind: 'retryable', code: 'ECONNREFUSED' });
  });

  it('validates targets naming the field', () => {
    expect(() => webhookChannel.parseTarget({ url: 'ftp://x', secret: 'x'.repeat(20) })).toThrow(
      /url/,
    );
    expect(() => webhookChannel.parseTarget({ url: 'https://x.example', secret: 'short' })).toThrow(
      /secret/,
    );
    expect(() => webhookChannel.parseTarget({ secret: 'x'.repeat(20) })).toThrow(/^url/);
  });
});
