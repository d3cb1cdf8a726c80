/**
 * `ingest.device_bytes`, run in a child process of its own (a fresh heap; forked by run.ts with
 * --expose-gc): N device actors with live status resident on one node, heap bytes per device.
 *
 * Each device gets one telemetry message through the production path: an MQTT-like topic string
 * and JSON payload go through IngestPipeline (parse, directory answer, deviceActorId, tell) into
 * an ActorSystem running createDeviceActor with its defaults and a state store that keeps nothing
 * in this process. The device comes online (timer armed, snapshot saved to the no-op store) and
 * keeps last value and time of six metrics. Messages go in bursts of 10,000 followed by
 * `await whenIdle()`. Bytes per device = heapUsed delta / N, each read after a forced full GC,
 * with all N activations resident. A warm-up of 50,000 devices on a throwaway system runs first
 * (JIT, shared metric-name lists).
 *
 * The device directory's cache (db/devices/directory.ts, a Map entry per device) and rows in
 * flight are not part of the figure: they exist once per node, not per resident actor.
 */
import { createDeviceActor } from '../../actors/device/index.ts';
import { BadInputCounter } from '../../actors/ingest/bad-input.ts';
import { IngestPipeline } from '../../actors/ingest/pipeline.ts';
import type { DeviceResolution } from '../../db/devices/directory.ts';
import { ActorSystem, silentLogger } from '../../runtime/index.ts';
import { fullGc } from '../lib/report.ts';
import { NoopStateStore } from './noop-store.ts';
import { Lcg, payloadText, TENANT } from './workload.ts';

const CHUNK = 10_000;

export interface DeviceBytesResult {
  readonly devices: number;
  readonly bytesPerDevice: number;
  readonly heapBeforeMB: number;
  readonly heapAfterMB: number;
  readonly rssAfterMB: number;
  readonly activationsPerSec: number;
  readonly saves: number;
  readonly online: number;
}

function system(store: NoopStateStore): ActorSystem {
  const s = new ActorSystem({ nodeId: 'bench-memory', stateStore: store, logger: silentLogger });
  s.register(createDeviceActor({ events: { transition() {} } }));
  return s;
}

async function load(
  sys: ActorSystem,
  prefix: string,
  from: number,
  count: number,
): Promise<{ accepted: number }> {
  const counter = new BadInputCounter();
  const found: DeviceResolution = { ok: true, deviceId: 1, enabled: true, provisioned: false };
  const pipeline = new IngestPipeline({
    directory: {
      peek: () => found,
      resolve: async () => found,
      resolveDevEui: async () => ({ ok: false, reason: 'unknown-device' }),
    },
    rows: {
      add(_row, done) {
        done();
        return true;
      },
    },
    deliver: (target, message) => sys.tell(target, message),
    counter,
    logger: silentLogger,
  });
  const rnd = new Lcg(11);
  const ack = () => {};
  const now = Date.now();
  for (let base = from; base < from + count; base += CHUNK) {
    const end = Math.min(from + count, base + CHUNK);
    for (let i = base; i < end; i++) {
      // Fresh strings and buffers per message, as the MQTT client hands them over.
      const topic = Buffer.from(
        `${TENANT}/devices/${prefix}${String(i).padStart(7, '0')}/telemetry`,
      ).toString('utf8');
      pipeline.handle(topic, Buffer.from(payloadText(now - 1000, rnd)), now, ack);
    }
    await sys.whenIdle();
  }
  return { accepted: counter.accepted };
}

export async function measureDeviceBytes(devices: number): Promise<DeviceBytesResult> {
  {
    const warmStore = new NoopStateStore();
    const warm = system(warmStore);
    await load(warm, 'warm-', 0, Math.min(50_000, devices));
    await warm.shutdown();
  }
  const store = new NoopStateStore();
  const sys = system(store);
  fullGc();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const { accepted } = await load(sys, 'sim-', 0, devices);
  const seconds = (performance.now() - t0) / 1000;
  fullGc();
  const after = process.memoryUsage();
  if (accepted !== devices || sys.activeCount !== devices) {
    throw new Error(
      `expected ${devices} resident devices, accepted ${accepted}, ${sys.activeCount} active`,
    );
  }
  // Spot check: the live status is there.
  const status = await sys.ask<{ online: boolean; messages: number; metrics: object }>(
    `device/${TENANT}:sim-${String(devices - 1).padStart(7, '0')}`,
    { type: 'status' },
  );
  if (!status.online || status.messages !== 1 || Object.keys(status.metrics).length !== 6) {
    throw new Error(`unexpected device status ${JSON.stringify(status)}`);
  }
  const result: DeviceBytesResult = {
    devices,
    bytesPerDevice: (after.heapUsed - before) / devices,
    heapBeforeMB: before / 2 ** 20,
    heapAfterMB: after.heapUsed / 2 ** 20,
    rssAfterMB: after.rss / 2 ** 20,
    activationsPerSec: devices / seconds,
    saves: store.saves,
    online: devices,
  };
  return result;
}

// Child process entry: `fork(device-bytes.ts, [N])`, result over IPC.
if (process.send !== undefined && process.argv[2] !== undefined) {
  const n = Number(process.argv[2]);
  measureDeviceBytes(n).then(
    (r) => {
      process.send?.({ ok: true, result: r }, () => process.exit(0));
    },
    (err: unknown) => {
      process.send?.({ ok: false, error: err instanceof Error ? err.stack : String(err) }, () =>
        process.exit(1),
      );
    },
  );
}
