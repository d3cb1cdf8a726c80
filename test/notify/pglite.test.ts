import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../../actors/notify/channels/channel.ts';
import { webhookChannel } from '../../actors/notify/channels/webhook.ts';
import { Dispatcher } from '../../actors/notify/delivery/dispatcher.ts';
import { DeliveryOutbox } from '../../actors/notify/delivery/outbox.ts';
import { createTenant } from '../../db/devices/registry.ts';
import { claimDue, listDeliveries } from '../../db/notify/deliveries.ts';
import { plaintextSealer } from '../../db/notify/secrets.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { FakeWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { loopbackDeps, message } from './helpers.ts';

// The embedded default (`npm start`) runs on PGlite: the outbox's SQL must work there too.
describe('delivery outbox on embedded PGlite', () => {
  let db: MigratedTestDatabase;
  const receiver = new FakeWebhookReceiver();
  const webhook = webhookChannel.create({ timeoutMs: 2000 }, loopbackDeps)! as Channel<unknown>;
  let t = Date.parse('2026-03-01T00:00:00Z');

  beforeAll(async () => {
    db = await createMigratedTestDatabase('pglite');
    await createTenant(db.pool, { id: 'acme' });
    await receiver.start();
  });
  afterAll(async () => {
    await webhook.close?.();
    await receiver.stop();
    await db?.drop();
  });

  it('delivers, retries and reclaims', async () => {
    const now = () => t;
    const outbox = new DeliveryOutbox({ sealer: plaintextSealer, now });
    const dispatcher = new Dispatcher({
      pool: db.pool,
      channels: new Map([['webhook', webhook]]),
      sealer: plaintextSealer,
      nodeId: 'embedded',
      now,
      random: () => 0.5,
      sendTimeoutMs: 2000,
      leaseMs: 10_000,
    });
    const target = { url: receiver.url, secret: receiver.secret };
    await outbox.enqueueDeliveries(db.pool, [
      {
        tenantId: 'acme',
        alertId: '1',
        channel: 'webhook',
        target,
        message: message(),
        idempotencyKey: 'a',
      },
      {
        tenantId: 'acme',
        alertId: '1',
        channel: 'webhook',
        target,
        message: message(),
        idempotencyKey: 'b',
      },
    ]);
    receiver.script({ mode: 'status', status: 503 });
    expect(await dispatcher.runOnce()).toMatchObject({ claimed: 2, retried: 1, released: 1 });
    t += 60_000;
    expect(await dispatcher.runOnce()).toMatchObject({ delivered: 2 });
    expect(receiver.received.map((r) => r.idempotencyKey)).toEqual(['a', 'b']);

    await outbox.enqueueDeliveries(db.pool, [
      {
        tenantId: 'acme',
        alertId: '2',
        channel: 'webhook',
        target,
        message: message(),
        idempotencyKey: 'c',
      },
    ]);
    await claimDue(db.pool, { now: t, node: 'gone', leaseMs: 10_000, limit: 5, runLength: 5 });
    t += 11_000;
    expect(await dispatcher.runOnce()).toMatchObject({ reclaimed: 1, delivered: 1 });
    const rows = await listDeliveries(db.pool, 'acme');
    expect(rows.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered']);
  });
});
