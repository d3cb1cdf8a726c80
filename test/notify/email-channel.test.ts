import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emailChannel } from '../../actors/notify/channels/email.ts';
import { FakeSmtp } from '../fakes/smtp.ts';
import { loopbackDeps, message, sendContext } from './helpers.ts';

describe('email channel (nodemailer over SMTP)', () => {
  const smtp = new FakeSmtp({ user: 'gito', pass: 'secret' });
  let channel: NonNullable<ReturnType<typeof emailChannel.create>>;
  const target = emailChannel.parseTarget({ to: 'ops@example.com', name: 'Ops' });

  beforeAll(async () => {
    await smtp.start();
    channel = emailChannel.create(
      {
        host: '127.0.0.1',
        port: smtp.port,
        tls: 'none',
        user: 'gito',
        password: 'secret',
        from: 'Gito <alerts@example.com>',
        timeoutMs: 2000,
      },
      loopbackDeps,
    )!;
  });
  afterAll(async () => {
    await channel.close?.();
    await smtp.stop();
  });
  beforeEach(() => {
    smtp.behave({ mode: 'ok' });
    smtp.mails.length = 0;
    smtp.rejectRecipients.clear();
  });

  it('sends with authentication; the Message-ID follows the idempotency key', async () => {
    const first = await channel.send(message(), target, sendContext(5000, 'alert:42:l0'));
    expect(first).toMatchObject({ kind: 'delivered', statusCode: 250 });
    const again = await channel.send(message(), target, sendContext(5000, 'alert:42:l0'));
    expect(smtp.mails).toHaveLength(2);
    const [a, b] = smtp.mails;
    expect(a!.to).toEqual(['ops@example.com']);
    expect(a!.from).toBe('alerts@example.com');
    expect(a!.subject).toBe('[critical] Freezer too warm on Freezer 3');
    expect(a!.idempotencyKey).toBe('alert:42:l0');
    expect(a!.messageId).toBe(b!.messageId);
    expect(a!.raw).toContain('https://gito.example.com/alerts/42');
    if (first.kind === 'delivered' && again.kind === 'delivered') {
      expect(first.providerId).toBe(again.providerId);
    }
  });

  it('a 4xx reply is retryable, a 5xx rejection permanent', async () => {
    smtp.behave({ mode: 'tempfail' });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 451,
    });
    smtp.behave({ mode: 'ok' });
    smtp.rejectRecipients.add('gone@example.com');
    expect(await channel.send(message(), { to: 'gone@example.com' }, sendContext())).toMatchObject({
      kind: 'permanent',
      statusCode: 550,
    });
  });

  it('wrong credentials are retryable (EAUTH: configuration)', async () => {
    const wrong = emailChannel.create(
      {
        host: '127.0.0.1',
        port: smtp.port,
        tls: 'none',
        user: 'gito',
        password: 'nope',
        from: 'a@example.com',
      },
      loopbackDeps,
    )!;
    expect(await wrong.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'EAUTH',
    });
    await wrong.close?.();
  });

  it('reset, slow (timeout) and refused connections are retryable', async () => {
    smtp.behave({ mode: 'reset' });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
    });
    smtp.behave({ mode: 'slow', delayMs: 3000 });
    expect(await channel.send(message(), target, sendContext(200))).toMatchObject({
      kind: 'retryable',
      code: 'timeout',
    });
    const down = emailChannel.create(
      { host: '127.0.0.1', port: 9, tls: 'none', from: 'a@example.com', timeoutMs: 1000 },
      loopbackDeps,
    )!;
    expect(await down.send(message(), target, sendContext())).toMatchObject({ kind: 'retryable' });
    await down.close?.();
  });

  it('is off without a host; validates addresses', () => {
    expect(emailChannel.create(undefined, loopbackDeps)).toBeUndefined();
    expect(() => emailChannel.parseTarget({ to: 'not an address' })).toThrow(/^to:/);
  });
});
