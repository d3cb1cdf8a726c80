import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IncomingMessage, MqttSource } from '../../../actors/ingest/mqtt/source.ts';
import { PrivateMosquitto } from '../../../deploy/mosquitto/private-broker.ts';
import { silentLogger } from '../../../runtime/index.ts';

let broker: PrivateMosquitto;
beforeAll(async () => {
  broker = await PrivateMosquitto.start();
});
afterAll(async () => {
  await broker.stop();
});

async function publish(count: number, topic = 'acme/devices/d1/telemetry'): Promise<void> {
  const publisher = await mqtt.connectAsync(broker.url, { clientId: `pub-${Math.random()}` });
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      publisher.publishAsync(topic, JSON.stringify({ seq: i }), { qos: 1 }),
    ),
  );
  await publisher.endAsync();
}

function collector(clientId: string, ackAfterMs: number | null) {
  const seen: number[] = [];
  const source = new MqttSource({
    url: broker.url,
    clientId,
    topics: ['+/devices/+/telemetry'],
    logger: silentLogger,
    onMessage: (m: IncomingMessage) => {
      seen.push((JSON.parse(m.payload.toString()) as { seq: number }).seq);
      if (ackAfterMs !== null) setTimeout(() => m.ack(), ackAfterMs);
    },
  });
  return { source, seen };
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('MqttSource (QoS 1, acknowledged after storage)', () => {
  it('keeps receiving while acknowledgements are pending (deferred acks do not serialise)', async () => {
    const { source, seen } = collector('gito-test-flow', 30);
    await source.start();
    await publish(3_000);
    await until(() => seen.length === 3_000);
    await until(() => source.counts().acked === 3_000);
    expect(new Set(seen).size).toBe(3_000);
    await source.stop();
  });

  it('gets unacknowledged messages again after a crash, and not after they were acknowledged', async () => {
    const clientId = `gito-test-crash-${Date.now()}`;
    const first = collector(clientId, null); // receives, never acknowledges, then "crashes"
    await first.source.start();
    await publish(50);
    await until(() => first.seen.length === 50);
    // Simulate kill -9: drop the socket without a DISCONNECT.
    (
      first.source as unknown as { client: { stream: { destroy(): void } } }
    ).client.stream.destroy();
    await first.source.stop().catch(() => undefined);

    const second = collector(clientId, 0);
    await second.source.start();
    await until(() => second.seen.length >= 50);
    expect([...new Set(second.seen)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    await until(() => second.source.counts().acked >= 50);
    await second.source.stop();

    const third = collector(clientId, 0);
    await third.source.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(third.seen).toEqual([]);
    await third.source.stop();
  });

  it('stops reading once it holds maxUnacked messages, and resumes as they are acknowledged', async () => {
    const BURST = 20_000;
    const pending: IncomingMessage[] = [];
    const source = new MqttSource({
      url: broker.url,
      clientId: `gito-test-bound-${Date.now()}`,
      topics: ['+/devices/+/telemetry'],
      logger: silentLogger,
      maxUnacked: 50,
      onMessage: (m) => pending.push(m),
    });
    await source.start();
    // Far more than socket buffers hold (a few hundred KB), so only the bound can stop it.
    await publish(BURST);
    await new Promise((r) => setTimeout(r, 500));
    // Bounded: what was already in socket buffers may arrive, never the whole burst.
    expect(pending.length).toBeGreaterThanOrEqual(50);
    expect(pending.length).toBeLessThan(BURST / 2);
    const drain = setInterval(() => {
      for (const m of pending.splice(0)) m.ack();
    }, 5);
    await until(() => source.counts().received === BURST);
    clearInterval(drain);
    for (const m of pending.splice(0)) m.ack();
    expect(source.counts().acked).toBe(BURST);
    await source.stop();
  });
});
