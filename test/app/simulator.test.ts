import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTelemetry } from '../../actors/ingest/parse.ts';
import { startSimulator } from '../../app/simulator.ts';
import { PrivateMosquitto } from '../../deploy/mosquitto/private-broker.ts';

let broker: PrivateMosquitto;
beforeAll(async () => {
  broker = await PrivateMosquitto.start();
});
afterAll(async () => {
  await broker.stop();
});

describe('npm run simulate', () => {
  it('publishes valid telemetry for its devices at about the requested rate, with anomalies on demand', async () => {
    const received: Array<{ topic: string; payload: Buffer }> = [];
    const sub = await mqtt.connectAsync(broker.url);
    await sub.subscribeAsync('+/devices/+/telemetry', { qos: 1 });
    sub.on('message', (topic, payload) => received.push({ topic, payload }));
    const sim = await startSimulator({
      url: broker.url,
      tenant: 'demo',
      devices: 20,
      rate: 200,
      durationSeconds: 1,
      anomalyRate: 0,
      log: () => {},
    });
    sim.injectAnomalies();
    const { sent } = await sim.done;
    await new Promise((r) => setTimeout(r, 200));
    await sub.endAsync();
    expect(sent).toBeGreaterThan(100);
    expect(received).toHaveLength(sent);
    const parsed = received.map((m) => parseTelemetry(m.topic, m.payload, Date.now()));
    expect(parsed.every((p) => p.ok)).toBe(true);
    const keys = new Set(parsed.map((p) => (p.ok ? p.reading.deviceKey : '')));
    expect(keys.size).toBe(20);
    const spikes = parsed.filter((p) => p.ok && (p.reading.metrics.humidity as number) > 100);
    expect(spikes.length).toBeGreaterThan(0);
  });
});
