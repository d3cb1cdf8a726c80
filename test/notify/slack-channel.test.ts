import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../actors/notify/channels/http/address-policy.ts';
import { slackChannel } from '../../actors/notify/channels/slack.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { FakeSlack } from '../fakes/slack.ts';
import { loopbackDeps, message, sendContext } from './helpers.ts';

describe('slack channel', () => {
  const slack = new FakeSlack();
  const channel = slackChannel.create({ timeoutMs: 2000 }, loopbackDeps)!;
  let target: { webhookUrl: string };

  beforeAll(async () => {
    await slack.start();
    target = slackChannel.parseTarget({ webhookUrl: slack.webhookUrl, label: '#ops' });
  });
  afterAll(async () => {
    await channel.close?.();
    await slack.stop();
  });
  beforeEach(() => {
    slack.reset();
  });

  it('posts the message through @slack/webhook', async () => {
    const outcome = await channel.send(message(), target, sendContext());
    expect(outcome).toMatchObject({ kind: 'delivered', statusCode: 200 });
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.text).toBe('[critical] Freezer too warm on Freezer 3');
    expect(JSON.stringify(slack.posts[0]!.attachments)).toContain(
      '<https://gito.example.com/alerts/42|Open alert>',
    );
    expect(slack.requests[0]!.headers['user-agent']).toMatch(/@slack:webhook/);
  });

  it('honours a 429 Retry-After (read through the fetch wrapper)', async () => {
    slack.script({ mode: 'status', status: 429, retryAfter: '30' });
    const outcome = await channel.send(message(), target, sendContext());
    expect(outcome).toMatchObject({
      kind: 'retryable',
      statusCode: 429,
      code: 'rate_limited',
      retryAfterMs: 30_000,
    });
    expect(slack.requests).toHaveLength(1); // the library did not retry on its own
  });

  it('5xx retryable; 4xx (no_service, invalid_payload) permanent', async () => {
    slack.script(
      { mode: 'status', status: 500 },
      { mode: 'status', status: 404, body: 'no_service' },
    );
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 500,
    });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'permanent',
      statusCode: 404,
      code: 'no_service',
    });
  });

  it('reset and timeout are retryable', async () => {
    slack.script({ mode: 'reset' });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
    });
    slack.script({ mode: 'slow', delayMs: 2000 });
    expect(await channel.send(message(), target, sendContext(150))).toMatchObject({
      kind: 'retryable',
      code: 'timeout',
    });
  });

  it('applies the address guard to Slack URLs too', async () => {
    const strict = slackChannel.create(
      {},
      { logger: silentLogger, addressPolicy: new AddressPolicy() },
    )!;
    expect(await strict.send(message(), target, sendContext())).toMatchObject({
      kind: 'permanent',
      code: 'address-refused',
    });
    expect(slack.requests).toHaveLength(0);
    await strict.close?.();
  });
});
