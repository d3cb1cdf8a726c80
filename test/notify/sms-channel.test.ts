import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { smsChannel } from '../../actors/notify/channels/sms.ts';
import { FakeTwilio } from '../fakes/twilio.ts';
import { loopbackDeps, message, sendContext } from './helpers.ts';

describe('sms channel (twilio)', () => {
  const twilio = new FakeTwilio();
  let channel: NonNullable<ReturnType<typeof smsChannel.create>>;
  const target = smsChannel.parseTarget({ to: '+4915112345678' });

  beforeAll(async () => {
    await twilio.start();
    channel = smsChannel.create(
      {
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        from: '+15005550006',
        apiUrl: twilio.origin,
        timeoutMs: 2000,
      },
      loopbackDeps,
    )!;
  });
  afterAll(async () => {
    await channel.close?.();
    await twilio.stop();
  });
  beforeEach(() => {
    twilio.reset();
  });

  it('sends through the Messages API (path, Basic auth and form checked by the fake)', async () => {
    const outcome = await channel.send(
      message({ body: 'Freezer 3 too warm' }),
      target,
      sendContext(),
    );
    expect(outcome).toMatchObject({ kind: 'delivered', statusCode: 201 });
    expect(twilio.messages).toEqual([
      expect.objectContaining({
        to: '+4915112345678',
        from: '+15005550006',
        body: 'Freezer 3 too warm',
      }),
    ]);
    if (outcome.kind === 'delivered') expect(outcome.providerId).toBe(twilio.messages[0]!.sid);
  });

  it('an invalid number (21211) is permanent', async () => {
    twilio.invalidNumbers.add('+4915100000000');
    const outcome = await channel.send(message(), { to: '+4915100000000' }, sendContext());
    expect(outcome).toMatchObject({ kind: 'permanent', statusCode: 400, code: '21211' });
  });

  it('429 is retryable with Retry-After; 5xx retryable', async () => {
    twilio.script(
      { mode: 'status', status: 429, retryAfter: '12' },
      { mode: 'status', status: 503 },
    );
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 429,
      code: '20429',
      retryAfterMs: 12_000,
    });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 503,
    });
  });

  it('concurrent sends each read their own Retry-After', async () => {
    twilio.behave({ mode: 'status', status: 429, retryAfter: '5' });
    const results = await Promise.all(
      [1, 2, 3].map(() => channel.send(message(), target, sendContext())),
    );
    for (const r of results) expect(r).toMatchObject({ kind: 'retryable', retryAfterMs: 5000 });
  });

  it('wrong credentials (401) keep retrying: the operator can fix them', async () => {
    const wrong = smsChannel.create(
      {
        accountSid: twilio.accountSid,
        authToken: 'wrong',
        from: '+15005550006',
        apiUrl: twilio.origin,
      },
      loopbackDeps,
    )!;
    expect(await wrong.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 401,
      code: '20003',
    });
  });

  it('reset, timeout and refused connections are retryable', async () => {
    twilio.script({ mode: 'reset' });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
    });
    twilio.script({ mode: 'slow', delayMs: 2000 });
    expect(await channel.send(message(), target, sendContext(150))).toMatchObject({
      kind: 'retryable',
      code: 'timeout',
    });
    const down = smsChannel.create(
      {
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        from: '+15005550006',
        apiUrl: 'http://127.0.0.1:9',
      },
      loopbackDeps,
    )!;
    expect(await down.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'ECONNREFUSED',
    });
  });

  it('refuses bad numbers and bad configuration by name', () => {
    expect(() => smsChannel.parseTarget({ to: '015112345678' })).toThrow(/^to: must be an E\.164/);
    expect(() =>
      smsChannel.create({ accountSid: 'XX1', authToken: 't', from: '+15005550006' }, loopbackDeps),
    ).toThrow(/accountSid/);
    expect(smsChannel.create(undefined, loopbackDeps)).toBeUndefined();
  });
});
