import type { Agent } from 'node:https';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../actors/notify/channels/channel.ts';
import { pagerdutyChannel, pagerdutyDedupKey } from '../../actors/notify/channels/pagerduty.ts';
import { webhookChannel } from '../../actors/notify/channels/webhook.ts';
import {
  Dispatcher,
  type DispatcherOptions,
  type FailedDelivery,
} from '../../actors/notify/delivery/dispatcher.ts';
import {
  DeliveryOutbox,
  DeliveryRejectedError,
  type PlannedDelivery,
} from '../../actors/notify/delivery/outbox.ts';
import { NotifyMetrics } from '../../actors/notify/metrics.ts';
import { createTenant } from '../../db/devices/registry.ts';
import {
  claimDue,
  getDelivery,
  listAttempts,
  listDeliveries,
  markRetry,
  purgeFinishedDeliveries,
} from '../../db/notify/deliveries.ts';
import { plaintextSealer } from '../../db/notify/secrets.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { FakePagerDuty } from '../fakes/pagerduty.ts';
import { FakeWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { loopbackDeps, message } from './helpers.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;

describe('delivery dispatcher (PostgreSQL, fake clock)', () => {
  let db: MigratedTestDatabase;
  const receiver = new FakeWebhookReceiver();
  const webhook = webhookChannel.create({ timeoutMs: 2000 }, loopbackDeps)!;
  let pd: FakePagerDuty;
  let pdAgent: Agent;
  let pagerduty: Channel<unknown>;
  let t = T0;
  const now = () => t;
  let outbox: DeliveryOutbox;
  const failures: FailedDelivery[] = [];

  beforeAll(async () => {
    db = await createMigratedTestDatabase();
    await createTenant(db.pool, { id: 'acme' });
    await createTenant(db.pool, { id: 'globex' });
    await db.pool.query('CREATE TABLE test_failed_events (delivery_id bigint, reason text)');
    await receiver.start();
    pd = await (await FakePagerDuty.create()).start();
    pdAgent = pd.agent();
    pagerduty = pagerdutyChannel.create(
      { server: pd.server, agent: pdAgent, timeoutMs: 3000, retryTimeoutMs: 10 },
      loopbackDeps,
    )! as Channel<unknown>;
    outbox = new DeliveryOutbox({ sealer: plaintextSealer, now });
  });
  afterAll(async () => {
    await webhook.close?.();
    pdAgent?.destroy();
    await pd?.stop();
    await receiver.stop();
    await db?.drop();
  });
  beforeEach(async () => {
    t = T0;
    failures.length = 0;
    receiver.reset();
    pd.reset();
    await db.pool.query('TRUNCATE notification_deliveries CASCADE; TRUNCATE test_failed_events');
  });

  function dispatcher(options: Partial<DispatcherOptions> = {}): Dispatcher {
    return new Dispatcher({
      pool: db.pool,
      channels: new Map<string, Channel<unknown>>([
        ['webhook', webhook as Channel<unknown>],
        ['pagerduty', pagerduty],
      ]),
      sealer: plaintextSealer,
      nodeId: 'node-a',
      now,
      random: () => 0.999,
      backoff: { baseMs: SECOND, maxMs: MINUTE },
      sendTimeoutMs: 2000,
      leaseMs: 30 * SECOND,
      onFailed: async (delivery, client) => {
        failures.push(delivery);
        await client.query('INSERT INTO test_failed_events VALUES ($1, $2)', [
          delivery.id,
          delivery.reason,
        ]);
      },
      ...options,
    });
  }

  const hook = (recipient = 'a') => ({
    url: `${receiver.url}?r=${recipient}`,
    secret: receiver.secret,
  });

  function planned(key: string, options: Partial<PlannedDelivery> = {}): PlannedDelivery {
    return {
      tenantId: 'acme',
      alertId: '42',
      channel: 'webhook',
      target: hook(),
      message: message(),
      idempotencyKey: key,
      ...options,
    };
  }

  async function drain(d: Dispatcher, passes = 50): Promise<void> {
    for (let i = 0; i < passes; i++) {
      const s = await d.runOnce();
      if (s.claimed === 0) return;
    }
  }

  it('delivers once, records the attempt, and skips a key planned twice', async () => {
    const [first] = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    expect(first).toMatchObject({ created: true });
    const again = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    expect(again[0]).toEqual({ id: first!.id, idempotencyKey: 'k1', created: false });

    const summary = await dispatcher().runOnce();
    expect(summary).toMatchObject({ claimed: 1, delivered: 1, failed: 0 });
    expect(receiver.received.map((r) => r.idempotencyKey)).toEqual(['k1']);
    const row = await getDelivery(db.pool, first!.id!);
    expect(row).toMatchObject({ status: 'delivered', attempts: 1, finishedAt: T0 });
    expect(await listAttempts(db.pool, first!.id!)).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 'delivered',
        responseCode: 200,
        node: 'node-a',
      }),
    ]);
    expect((await dispatcher().runOnce()).claimed).toBe(0);
    // Retention removes finished rows (and their attempts) older than the cut-off.
    expect(await purgeFinishedDeliveries(db.pool, T0)).toBe(0);
    expect(await purgeFinishedDeliveries(db.pool, T0 + 1)).toBe(1);
    expect(await listAttempts(db.pool, first!.id!)).toEqual([]);
  });

  it('refuses a bad delivery by field before writing anything', async () => {
    await expect(
      outbox.enqueueDeliveries(db.pool, [planned('ok'), planned('bad', { target: { url: 'x' } })]),
    ).rejects.toThrow(DeliveryRejectedError);
    await expect(
      outbox.enqueueDeliveries(db.pool, [planned('bad', { target: { url: 'x' } })]),
    ).rejects.toThrow(/delivery 0: target\.url/);
    await expect(
      outbox.enqueueDeliveries(db.pool, [planned('k', { channel: 'fax' })]),
    ).rejects.toThrow(/channel/);
    expect(await listDeliveries(db.pool, 'acme')).toHaveLength(0);
  });

  it('retries with exponential backoff and full jitter, then delivers', async () => {
    receiver.script({ mode: 'status', status: 503 }, { mode: 'status', status: 503 });
    const [row] = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    const d = dispatcher();
    expect(await d.runOnce()).toMatchObject({ retried: 1 });
    // random() = 0.999: 0.999 of the 1 s ceiling.
    expect((await getDelivery(db.pool, row!.id!))!.nextAttemptAt).toBe(T0 + 999);
    expect((await d.runOnce()).claimed).toBe(0); // not due yet
    t = T0 + 999;
    expect(await d.runOnce()).toMatchObject({ retried: 1 });
    expect((await getDelivery(db.pool, row!.id!))!.nextAttemptAt).toBe(T0 + 999 + 1998);
    t += 1998;
    expect(await d.runOnce()).toMatchObject({ delivered: 1 });
    const attempts = await listAttempts(db.pool, row!.id!);
    expect(attempts.map((a) => [a.status, a.responseCode])).toEqual([
      ['retryable', 503],
      ['retryable', 503],
      ['delivered', 200],
    ]);
  });

  it('honours Retry-After over a shorter backoff', async () => {
    receiver.script({ mode: 'status', status: 429, retryAfter: '120' });
    const [row] = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    await dispatcher().runOnce();
    const view = await getDelivery(db.pool, row!.id!);
    expect(view).toMatchObject({ status: 'pending', nextAttemptAt: T0 + 120 * SECOND });
    expect(view!.lastError).toContain('HTTP 429');
  });

  it('stops at max attempts: failed, onFailed inside the same transaction', async () => {
    receiver.behave({ mode: 'status', status: 500 });
    const [row] = await outbox.enqueueDeliveries(db.pool, [planned('k1', { maxAttempts: 3 })]);
    const d = dispatcher();
    for (let i = 0; i < 5; i++) {
      await d.runOnce();
      t += MINUTE;
    }
    expect(receiver.requests).toHaveLength(3);
    const view = await getDelivery(db.pool, row!.id!);
    expect(view).toMatchObject({ status: 'failed', attempts: 3 });
    expect(view!.lastError).toMatch(/max attempts reached \(3\)/);
    expect(failures).toEqual([
      expect.objectContaining({ id: row!.id, alertId: '42', channel: 'webhook', attempts: 3 }),
    ]);
    const { rows } = await db.pool.query('SELECT delivery_id::text AS id FROM test_failed_events');
    expect(rows).toEqual([{ id: row!.id }]);
  });

  it('a permanent error fails at once; a throwing hook does not undo the failure', async () => {
    receiver.behave({ mode: 'status', status: 410 });
    const metrics = new NotifyMetrics(new Registry());
    const d = dispatcher({
      metrics,
      onFailed: async (_delivery, client) => {
        await client.query('INSERT INTO test_failed_events VALUES (1, $1)', ['from a bad hook']);
        throw new Error('hook bug');
      },
    });
    const [row] = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    expect(await d.runOnce()).toMatchObject({ failed: 1 });
    expect(await getDelivery(db.pool, row!.id!)).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await metrics.hookErrors.get()).values[0]?.value).toBe(1);
    // The hook's own write was rolled back with it.
    expect((await db.pool.query('SELECT * FROM test_failed_events')).rowCount).toBe(0);
  });

  it('fails a delivery that cannot be sent within its max age', async () => {
    receiver.behave({ mode: 'status', status: 503 });
    const [row] = await outbox.enqueueDeliveries(db.pool, [
      planned('k1', { maxAgeMs: 10 * SECOND }),
    ]);
    const d = dispatcher();
    for (let i = 0; i < 30 && failures.length === 0; i++) {
      await d.runOnce();
      t += SECOND;
    }
    const view = await getDelivery(db.pool, row!.id!);
    expect(view?.status).toBe('failed');
    expect(view?.lastError).toMatch(/max age/);
    expect(failures).toHaveLength(1);
  });

  it('reclaims a row left in sending by a dead node; the replay reuses the keys', async () => {
    const [row] = await outbox.enqueueDeliveries(db.pool, [planned('k1')]);
    // A node claims the row and dies before sending.
    const claimed = await claimDue(db.pool, {
      now: t,
      node: 'dead-node',
      leaseMs: 30 * SECOND,
      limit: 10,
      runLength: 5,
    });
    expect(claimed).toHaveLength(1);
    const d = dispatcher();
    expect((await d.runOnce()).claimed).toBe(0); // still leased
    t += 31 * SECOND;
    expect(await d.runOnce()).toMatchObject({ reclaimed: 1, delivered: 1 });
    expect(await getDelivery(db.pool, row!.id!)).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
    const attempts = await listAttempts(db.pool, row!.id!);
    expect(attempts.map((a) => [a.node, a.status])).toEqual([
      ['dead-node', 'abandoned'],
      ['node-a', 'delivered'],
    ]);
    expect(receiver.received.map((r) => r.idempotencyKey)).toEqual(['k1']);
  });

  it('a node killed after PagerDuty accepted the trigger: the replay opens no second incident', async () => {
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    // Sends, then hangs before the outcome is recorded: the process "dies" there.
    const dying: Channel<unknown> = {
      name: 'pagerduty',
      async send(m, target, ctx) {
        const outcome = await pagerduty.send(m, target, ctx);
        await blocked;
        return outcome;
      },
    };
    const metrics = new NotifyMetrics(new Registry());
    const doomed = dispatcher({
      nodeId: 'node-doomed',
      channels: new Map([['pagerduty', dying]]),
      metrics,
    });
    const target = { routingKey: 'R0UT1NGKEY0000000000000000000001' };
    await outbox.enqueueDeliveries(db.pool, [
      planned('pd-trigger', { channel: 'pagerduty', target }),
    ]);
    const lost = doomed.runOnce();
    while (pd.events.length === 0) await new Promise((r) => setTimeout(r, 5));

    t += 31 * SECOND;
    const survivor = dispatcher({ nodeId: 'node-b' });
    expect(await survivor.runOnce()).toMatchObject({ reclaimed: 1, delivered: 1 });
    const key = pagerdutyDedupKey('acme', '42');
    expect(pd.events.map((e) => [e.action, e.dedupKey])).toEqual([
      ['trigger', key],
      ['trigger', key],
    ]);
    expect(pd.incidentsOpened).toBe(1);

    // The stalled node wakes up: its late outcome is recorded as an attempt but moves nothing.
    unblock();
    await lost;
    expect((await metrics.staleCompletions.get()).values[0]?.value).toBe(1);
    const [view] = await listDeliveries(db.pool, 'acme');
    expect(view).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('a rate limit queues a burst instead of failing it', async () => {
    const d = dispatcher({ rateLimits: { perTenant: { count: 2, intervalMs: SECOND } } });
    await outbox.enqueueDeliveries(
      db.pool,
      Array.from({ length: 6 }, (_, i) => planned(`k${i}`, { target: hook(`r${i}`) })),
    );
    expect(await d.runOnce()).toMatchObject({ delivered: 2, released: 4, failed: 0 });
    const waiting = (await listDeliveries(db.pool, 'acme')).filter((r) => r.status === 'pending');
    expect(waiting).toHaveLength(4);
    for (const r of waiting) {
      expect(r.attempts).toBe(0); // a postponed send is not an attempt
      expect(r.nextAttemptAt).toBeGreaterThan(T0);
    }
    // Another tenant is not held back by acme's limit.
    await outbox.enqueueDeliveries(db.pool, [
      {
        ...planned('g1', { target: hook('g') }),
        tenantId: 'globex',
        message: message({ tenantId: 'globex' }),
      },
    ]);
    expect(await d.runOnce()).toMatchObject({ delivered: 1 });
    for (let i = 0; i < 20; i++) {
      t += 250;
      await d.runOnce();
    }
    const rows = await listDeliveries(db.pool, 'acme');
    expect(rows.every((r) => r.status === 'delivered' && r.attempts === 1)).toBe(true);
    expect(receiver.received).toHaveLength(7);
  });

  it("cancelPending stops an alert's pending deliveries; one in flight ends cancelled instead of retrying", async () => {
    await outbox.enqueueDeliveries(db.pool, [planned('a1', { target: hook('x') })]);
    const [inFlight] = await claimDue(db.pool, {
      now: t,
      node: 'n',
      leaseMs: 30_000,
      limit: 1,
      runLength: 1,
    });
    await outbox.enqueueDeliveries(db.pool, [
      planned('a2', { target: hook('y') }),
      planned('other', { alertId: '43', target: hook('z'), message: message({ alertId: '43' }) }),
    ]);
    expect(await outbox.cancelPending(db.pool, '42')).toEqual({ cancelled: 1, inFlight: 1 });
    const status = await markRetry(
      db.pool,
      inFlight!,
      {
        startedAt: t,
        durationMs: 5,
        status: 'retryable',
        responseCode: 503,
        errorCode: null,
        error: 'down',
      },
      t + SECOND,
      t,
    );
    expect(status).toBe('cancelled');
    await drain(dispatcher());
    expect(receiver.received.map((r) => r.idempotencyKey)).toEqual(['other']);
    const statuses = (await listDeliveries(db.pool, 'acme')).map((r) => [
      r.idempotencyKey,
      r.status,
    ]);
    expect(statuses.sort()).toEqual([
      ['a1', 'cancelled'],
      ['a2', 'cancelled'],
      ['other', 'delivered'],
    ]);
  });

  it('channel down for 5 minutes, then back: everything delivered once, in order per recipient', async () => {
    receiver.behave({ mode: 'status', status: 503 });
    const d = dispatcher();
    const recipients = ['r1', 'r2', 'r3'];
    const planned_: Record<string, string[]> = { r1: [], r2: [], r3: [] };
    let n = 0;
    // Alerts keep coming during the outage.
    for (; t < T0 + 5 * MINUTE; t += 2 * SECOND) {
      if ((t - T0) % (20 * SECOND) === 0) {
        const r = recipients[n % 3]!;
        const key = `${r}-${String(n).padStart(3, '0')}`;
        planned_[r]!.push(key);
        n++;
        await outbox.enqueueDeliveries(db.pool, [planned(key, { target: hook(r) })]);
      }
      await d.runOnce();
    }
    expect(receiver.received).toHaveLength(0);
    expect(receiver.requests.length).toBeGreaterThan(3);
    receiver.behave({ mode: 'ok' });
    for (let i = 0; i < 200; i++) {
      const rows = await listDeliveries(db.pool, 'acme', { limit: 1000 });
      if (rows.every((r) => r.status === 'delivered')) break;
      t += 2 * SECOND;
      await d.runOnce();
    }
    const rows = await listDeliveries(db.pool, 'acme', { limit: 1000 });
    expect(rows).toHaveLength(n);
    expect(rows.every((r) => r.status === 'delivered')).toBe(true);
    expect(failures).toHaveLength(0);
    expect(receiver.duplicates).toEqual([]);
    expect(receiver.received).toHaveLength(n);
    for (const r of recipients) {
      const got = receiver.received
        .map((x) => x.idempotencyKey)
        .filter((k) => k.startsWith(`${r}-`));
      expect(got).toEqual(planned_[r]);
    }
  });

  it('two dispatchers share the outbox: each delivery once, order per recipient kept', async () => {
    const keys: Record<string, string[]> = { p: [], q: [], s: [] };
    const deliveries: PlannedDelivery[] = [];
    for (let i = 0; i < 30; i++) {
      const r = ['p', 'q', 's'][i % 3]!;
      const key = `${r}-${String(i).padStart(2, '0')}`;
      keys[r]!.push(key);
      deliveries.push(planned(key, { target: hook(r) }));
    }
    await outbox.enqueueDeliveries(db.pool, deliveries);
    const a = dispatcher({ nodeId: 'node-a', runLength: 3 });
    const b = dispatcher({ nodeId: 'node-b', runLength: 3 });
    for (let i = 0; i < 40; i++) {
      const [x, y] = await Promise.all([a.runOnce(), b.runOnce()]);
      if (x.claimed + y.claimed === 0) break;
    }
    expect(receiver.duplicates).toEqual([]);
    expect(receiver.received).toHaveLength(30);
    for (const r of ['p', 'q', 's']) {
      const got = receiver.received
        .map((x) => x.idempotencyKey)
        .filter((k) => k.startsWith(`${r}-`));
      expect(got).toEqual(keys[r]);
    }
    const nodes = new Set<string>();
    for (const row of await listDeliveries(db.pool, 'acme', { limit: 100 })) {
      for (const attempt of await listAttempts(db.pool, row.id)) nodes.add(attempt.node);
    }
    expect(nodes.size).toBeGreaterThanOrEqual(1);
  });

  it('a started dispatcher sends on wake() and stops cleanly', async () => {
    t = Date.now();
    const d = dispatcher({ now: Date.now, pollIntervalMs: 60_000 });
    d.start();
    await outbox.enqueueDeliveries(db.pool, [planned('live', { notBefore: Date.now() })]);
    d.wake();
    for (let i = 0; i < 1000 && receiver.received.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await d.stop();
    expect(receiver.received.map((r) => r.idempotencyKey)).toEqual(['live']);
  });
});
