import { describe, expect, it } from 'vitest';
import { BadInputCounter } from '../../../actors/ingest/bad-input.ts';
import { IngestPipeline, type RowSink } from '../../../actors/ingest/pipeline.ts';
import { KeyedRateLimiter } from '../../../actors/ingest/rate-limit.ts';
import type { DeviceResolution } from '../../../db/devices/directory.ts';
import type { TelemetryRow } from '../../../db/telemetry/writer.ts';
import { silentLogger } from '../../../runtime/index.ts';

const NOW = Date.UTC(2026, 10, 27, 8, 0, 0);

/** A directory that knows tenant 'acme' with devices d1 (id 1) and off (disabled, id 2). */
const directory = {
  peek: (tenant: string, key: string): DeviceResolution | undefined => {
    if (tenant !== 'acme') return { ok: false, reason: 'unknown-tenant' };
    if (key === 'd1') return { ok: true, deviceId: 1, enabled: true, provisioned: false };
    if (key === 'off') return { ok: true, deviceId: 2, enabled: false, provisioned: false };
    return undefined;
  },
  resolve: async (_tenant: string, key: string): Promise<DeviceResolution> =>
    key === 'slow'
      ? { ok: true, deviceId: 3, enabled: true, provisioned: false }
      : { ok: false, reason: 'unknown-device' },
  resolveDevEui: async (eui: string) =>
    eui === '0101010101010101'
      ? ({ ok: true, tenantId: 'acme', deviceKey: 'lora-1', deviceId: 4, enabled: true } as const)
      : ({ ok: false, reason: 'unknown-device' } as const),
};

function setup(rows: RowSink = committing(), rateLimiter?: KeyedRateLimiter) {
  const delivered: Array<[string, unknown]> = [];
  const counter = new BadInputCounter();
  const pipeline = new IngestPipeline({
    directory,
    rows,
    deliver: (target, message) => delivered.push([target, message]),
    counter,
    logger: silentLogger,
    ...(rateLimiter === undefined ? {} : { rateLimiter }),
  });
  return { pipeline, delivered, counter };
}

function committing(stored: TelemetryRow[] = []): RowSink & { stored: TelemetryRow[] } {
  return {
    stored,
    add(row, done) {
      stored.push(row);
      setImmediate(() => done());
      return true;
    },
  };
}

const send = (pipeline: IngestPipeline, topic: string, payload: unknown) =>
  new Promise<boolean>((resolve) => {
    pipeline.handle(
      topic,
      Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
      NOW,
      () => resolve(true),
    );
  });

describe('IngestPipeline', () => {
  it('stores an accepted reading, updates its device actor, and acks only after the commit', async () => {
    const rows = committing();
    const { pipeline, delivered, counter } = setup(rows);
    let acked = false;
    pipeline.handle(
      'acme/devices/d1/telemetry',
      Buffer.from('{"SI7021":{"Temperature":24.5}}'),
      NOW,
      () => {
        acked = true;
      },
    );
    expect(acked).toBe(false); // the commit is still pending
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(true);
    expect(rows.stored).toEqual([{ deviceId: 1, ts: NOW, metrics: { SI7021__Temperature: 24.5 } }]);
    expect(delivered).toEqual([
      [
        'device/acme:d1',
        { type: 'telemetry', ts: NOW, metrics: { SI7021__Temperature: 24.5 }, receivedAt: NOW },
      ],
    ]);
    expect(counter.accepted).toBe(1);
  });

  it('counts, acks and drops bad input of every kind without stopping', async () => {
    const { pipeline, counter, delivered } = setup();
    await send(pipeline, 'acme/devices/d1/telemetry', '{not json');
    await send(pipeline, 'nope', { v: 1 });
    await send(pipeline, 'other/devices/d1/telemetry', { v: 1 });
    await send(pipeline, 'acme/devices/ghost/telemetry', { v: 1 });
    await send(pipeline, 'acme/devices/off/telemetry', { v: 1 });
    await send(pipeline, 'application/x/device/0202020202020202/event/up', { object: { v: 1 } });
    expect(counter.count('malformed-json')).toBe(1);
    expect(counter.count('bad-topic')).toBe(1);
    expect(counter.count('unknown-tenant')).toBe(1);
    expect(counter.count('unknown-device')).toBe(2);
    expect(counter.count('device-disabled')).toBe(1);
    expect(delivered).toEqual([]);
    // ... and the stream goes on.
    await send(pipeline, 'acme/devices/slow/telemetry', { v: 2 });
    await send(pipeline, 'application/x/device/0101010101010101/event/up', { object: { v: 3 } });
    expect(delivered.map(([target]) => target)).toEqual(['device/acme:slow', 'device/acme:lora-1']);
  });

  it('throttles a flooding device', async () => {
    const { pipeline, counter } = setup(
      committing(),
      new KeyedRateLimiter({ ratePerSecond: 1, burst: 3 }),
    );
    for (let i = 0; i < 10; i++) await send(pipeline, 'acme/devices/d1/telemetry', { v: i });
    expect(counter.accepted).toBe(3);
    expect(counter.count('rate-limited')).toBe(7);
  });

  it('holds readings while the writer is full and stores them in order when it frees up', async () => {
    const stored: TelemetryRow[] = [];
    let open = false;
    const rows: RowSink = {
      add(row, done) {
        if (!open) return false;
        stored.push(row);
        setImmediate(() => done());
        return true;
      },
    };
    const { pipeline } = setup(rows);
    const acks: Promise<boolean>[] = [];
    for (let i = 0; i < 5; i++) acks.push(send(pipeline, 'acme/devices/d1/telemetry', { v: i }));
    await new Promise((r) => setTimeout(r, 20));
    expect(stored).toEqual([]);
    open = true;
    await Promise.all(acks);
    expect(stored.map((r) => r.metrics.v)).toEqual([0, 1, 2, 3, 4]);
  });

  it('leaves a message unacknowledged when it could not be stored, and says so', async () => {
    const failures: Error[] = [];
    const pipeline = new IngestPipeline({
      directory,
      rows: {
        add: (_row, done) => {
          setImmediate(() => done(new Error('database down')));
          return true;
        },
      },
      deliver: () => {},
      counter: new BadInputCounter(),
      logger: silentLogger,
      onStoreFailure: (err) => failures.push(err),
    });
    let acked = false;
    pipeline.handle('acme/devices/d1/telemetry', Buffer.from('{"v":1}'), NOW, () => {
      acked = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(acked).toBe(false);
    expect(failures.map((e) => e.message)).toEqual(['database down']);
  });
});
