import type { Agent } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pagerdutyChannel, pagerdutyDedupKey } from '../../actors/notify/channels/pagerduty.ts';
import { FakePagerDuty } from '../fakes/pagerduty.ts';
import { loopbackDeps, message, sendContext } from './helpers.ts';

describe('pagerduty channel', () => {
  let pd: FakePagerDuty;
  let agent: Agent;
  let channel: NonNullable<ReturnType<typeof pagerdutyChannel.create>>;
  const target = pagerdutyChannel.parseTarget({ routingKey: 'R0UT1NGKEY0000000000000000000001' });

  beforeAll(async () => {
    pd = await (await FakePagerDuty.create()).start();
    agent = pd.agent();
    channel = pagerdutyChannel.create(
      { server: pd.server, agent, timeoutMs: 3000, retryTimeoutMs: 10 },
      loopbackDeps,
    )!;
  });
  afterAll(async () => {
    agent.destroy();
    await pd.stop();
  });
  beforeEach(() => {
    pd.reset();
  });

  it('triggers, acknowledges and resolves one incident with a dedup_key from the alert', async () => {
    const key = pagerdutyDedupKey('acme', '42');
    const trigger = await channel.send(message(), target, sendContext());
    expect(trigger).toMatchObject({ kind: 'delivered', statusCode: 202, providerId: key });
    // A retry or replay of the trigger reuses the key: still one incident.
    await channel.send(message(), target, sendContext());
    expect(
      await channel.send(message({ event: 'acknowledged' }), target, sendContext()),
    ).toMatchObject({ kind: 'delivered' });
    expect(await channel.send(message({ event: 'resolved' }), target, sendContext())).toMatchObject(
      {
        kind: 'delivered',
      },
    );
    expect(pd.events.map((e) => [e.action, e.dedupKey])).toEqual([
      ['trigger', key],
      ['trigger', key],
      ['acknowledge', key],
      ['resolve', key],
    ]);
    expect(pd.incidentsOpened).toBe(1);
    expect(pd.incidents.get(key)?.status).toBe('resolved');
    expect(pd.strays).toHaveLength(0);
    const payload = pd.events[0]!.body.payload as Record<string, unknown>;
    expect(payload).toMatchObject({
      summary: '[critical] Freezer too warm on Freezer 3',
      source: 'Freezer 3',
      severity: 'critical',
    });
  });

  it('dedup keys are stable and at most 255 characters', () => {
    expect(pagerdutyDedupKey('acme', '42')).toBe(pagerdutyDedupKey('acme', '42'));
    expect(pagerdutyDedupKey('acme', '42')).not.toBe(pagerdutyDedupKey('acme', '43'));
    expect(pagerdutyDedupKey('t'.repeat(300), '1').length).toBeLessThanOrEqual(255);
  });

  it('fills an empty summary and source (PagerDuty requires them)', async () => {
    const outcome = await channel.send(message({ title: '', source: '' }), target, sendContext());
    expect(outcome.kind).toBe('delivered');
    expect(pd.events[0]!.body.payload).toMatchObject({ summary: 'Gito alert', source: 'gito' });
  });

  it('an invalid event (400) is permanent with PagerDuty reasons', async () => {
    pd.script({
      mode: 'status',
      status: 400,
      body: '{"status":"invalid event","message":"Event object is invalid","errors":["bad"]}',
      contentType: 'application/json',
    });
    const bad = await channel.send(message(), target, sendContext());
    expect(bad).toMatchObject({ kind: 'permanent', statusCode: 400 });
    if (bad.kind === 'permanent') expect(bad.reason).toContain('Event object is invalid');
  });

  it('429 left after pdjs retries is retryable with Retry-After', async () => {
    pd.behave({ mode: 'status', status: 429, retryAfter: '45' });
    const outcome = await channel.send(message(), target, sendContext());
    expect(outcome).toMatchObject({ kind: 'retryable', statusCode: 429, retryAfterMs: 45_000 });
    expect(pd.requests).toHaveLength(4); // pdjs's own three retries, 10 ms apart
  });

  it('5xx (JSON or not) retryable; reset, timeout and refused retryable', async () => {
    pd.script(
      { mode: 'status', status: 502 },
      { mode: 'status', status: 500, body: '<html>oops</html>' },
      { mode: 'reset' },
      { mode: 'slow', delayMs: 2000 },
    );
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      statusCode: 502,
    });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'invalid-json',
    });
    expect(await channel.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
    });
    expect(await channel.send(message(), target, sendContext(150))).toMatchObject({
      kind: 'retryable',
      code: 'timeout',
    });
    const down = pagerdutyChannel.create({ server: '127.0.0.1:9', agent }, loopbackDeps)!;
    expect(await down.send(message(), target, sendContext())).toMatchObject({
      kind: 'retryable',
      code: 'ECONNREFUSED',
    });
  });

  it('an untrusted certificate is not accepted', async () => {
    const strict = pagerdutyChannel.create({ server: pd.server, timeoutMs: 2000 }, loopbackDeps)!;
    const outcome = await strict.send(message(), target, sendContext());
    expect(outcome.kind).toBe('retryable');
    expect(pd.events).toHaveLength(0);
  });
});
