/**
 * `ingest.broker_ceiling` and `ingest.e2e`: the same QoS 1 messages, from the same publisher
 * child through the same private Mosquitto, first to a subscriber that only counts them (the
 * ceiling), then through Gito's production ingest path (MqttSource -> IngestPipeline ->
 * TelemetryWriter with the row committed, and the device actor updated).
 *
 * A round of either kind is timed from the publisher's first publish to the last message
 * counted (ceiling) or to the moment the last row is committed and every device actor has
 * processed its messages (Gito: the last deferred PUBACK, which the pipeline sends only after
 * the row's batch committed, then `system.whenIdle()`). Rounds alternate (ceiling, Gito, ...)
 * so that load from other work on the machine hits both alike; medians are reported.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Pool } from 'pg';
import { deviceActorId } from '../../actors/device/device-actor.ts';
import { createDeviceActor, type DeviceStatus } from '../../actors/device/index.ts';
import { BadInputCounter } from '../../actors/ingest/bad-input.ts';
import { type IncomingMessage, MqttSource } from '../../actors/ingest/mqtt/source.ts';
import { IngestPipeline } from '../../actors/ingest/pipeline.ts';
import { DeviceDirectory } from '../../db/devices/directory.ts';
import { createTenant, registerDevices, simulatedDevices } from '../../db/devices/registry.ts';
import { coveredRange } from '../../db/partitions.ts';
import { TelemetryWriter } from '../../db/telemetry/writer.ts';
import type { PrivateMosquitto } from '../../deploy/mosquitto/private-broker.ts';
import { ActorSystem, type Logger } from '../../runtime/index.ts';
import { log } from '../lib/report.ts';
import { type CpuSplit, cpuSampler, gcPauseMs } from './cpu.ts';
import { nowMs, type Publisher } from './lib.ts';
import { NoopStateStore } from './noop-store.ts';
import { deviceKey, SHARE_GROUP, TENANT, TOPIC_FILTER } from './workload.ts';

/** warn and error to stderr (never stdout), each kind of line at most a few times. */
function benchLogger(): Logger {
  const seen = new Map<string, number>();
  const write = (level: string, obj: object, msg?: string) => {
    const key = `${level}:${msg ?? ''}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n <= 3) process.stderr.write(`${JSON.stringify({ level, ...obj, msg })}\n`);
  };
  return {
    debug() {},
    info() {},
    warn: (o, m) => write('warn', o, m),
    error: (o, m) => write('error', o, m),
  };
}

export interface RoundResult {
  readonly kind: 'ceiling' | 'gito';
  readonly messages: number;
  readonly seconds: number;
  readonly rate: number;
  readonly cpu: CpuSplit;
  /** Gito only: rows found in the table after the round, and what the pipeline counted. */
  readonly rows?: number;
  readonly accepted?: number;
  readonly rejected?: number;
  readonly duplicates?: number;
  /** Gito only: ms from the last commit to idle actors (usually 0: they finish first). */
  readonly idleLagMs?: number;
  readonly batches?: number;
  readonly meanBatchRows?: number;
  readonly meanWriteMs?: number;
  readonly pauses?: number;
  /** GC pauses of this process during the round, ms (main thread). */
  readonly gcMs: number;
  /** Gito only: most messages received and not yet committed at once. */
  readonly maxUnacked?: number;
}

export interface Order {
  readonly count: number;
  readonly devices: number;
  readonly tsBase: number;
  readonly window: number;
  readonly seed: number;
  readonly rate?: number;
}

const subscribeFilter = `$share/${SHARE_GROUP}/${TOPIC_FILTER}`;

/** The ceiling: a subscriber that only counts (mqtt.js acknowledges each message at once). */
export async function ceilingRound(
  broker: PrivateMosquitto,
  publisher: Publisher,
  order: Order,
  timeoutMs: number,
): Promise<RoundResult> {
  const client: MqttClient = await mqtt.connectAsync(broker.url, {
    clientId: `gito-bench-count-${process.pid}-${order.seed}`,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  try {
    let count = 0;
    let lastAt = 0;
    let allCounted!: () => void;
    const counted = new Promise<void>((r) => {
      allCounted = r;
    });
    client.handleMessage = (_packet, callback) => {
      if (++count === order.count) {
        lastAt = nowMs();
        allCounted();
      }
      callback();
    };
    await client.subscribeAsync(subscribeFilter, { qos: 1 });
    const cpu = cpuSampler(() => ({
      self: process.pid,
      publisher: publisher.pid,
      mosquitto: broker.pid,
    }));
    const gc0 = gcPauseMs();
    const { startedAt, done } = await publisher.publish(order);
    // A publisher failure ends the wait at once.
    await withTimeout(
      Promise.race([counted, done.then(() => counted)]),
      timeoutMs,
      () => `ceiling: counted ${count} of ${order.count}`,
    );
    const split = cpu.end();
    const gcMs = gcPauseMs() - gc0;
    await done;
    // Nothing more may arrive (QoS 1 may duplicate; it must not here).
    await new Promise((r) => setTimeout(r, 50));
    if (count !== order.count) throw new Error(`ceiling: counted ${count}, sent ${order.count}`);
    const seconds = (lastAt - startedAt) / 1000;
    return { kind: 'ceiling', messages: count, seconds, rate: count / seconds, cpu: split, gcMs };
  } finally {
    await client.endAsync();
  }
}

/**
 * One Gito node's ingest path on one process: device directory (preloaded), device actors in an
 * ActorSystem with a state store that keeps nothing in memory, the telemetry writer with its
 * defaults, and the pipeline; an MqttSource per round (stopped after it, its session wiped so
 * the counting subscriber's rounds get every message).
 */
export class GitoIngest {
  private pauses = 0;

  private constructor(
    readonly pool: Pool,
    readonly counter: BadInputCounter,
    readonly store: NoopStateStore,
    readonly system: ActorSystem,
    readonly directory: DeviceDirectory,
    readonly writer: TelemetryWriter,
    readonly pipeline: IngestPipeline,
    readonly devices: number,
  ) {
    pipeline.onPause((paused) => {
      if (paused) this.pauses++;
    });
  }

  /** Registers the tenant and `devices` devices, preloads the directory, starts the node. */
  static async start(pool: Pool, devices: number): Promise<GitoIngest> {
    const logger = benchLogger();
    await createTenant(pool, { id: TENANT });
    const t0 = performance.now();
    const specs = simulatedDevices(devices, { type: 'env-sensor' });
    for (let i = 0; i < 3; i++) {
      if (specs[i]!.key !== deviceKey(i, devices)) throw new Error('device keys disagree');
    }
    await registerDevices(pool, TENANT, specs);
    log(`registered ${devices} devices in ${Math.round(performance.now() - t0)} ms`);
    const store = new NoopStateStore();
    const system = new ActorSystem({ nodeId: 'bench-node', stateStore: store, logger });
    system.register(createDeviceActor({ events: { transition() {} } }));
    const directory = new DeviceDirectory(pool, { log: (m) => log(`directory: ${m}`) });
    const t1 = performance.now();
    const preloaded = await directory.preload(TENANT);
    log(`directory preloaded ${preloaded} devices in ${Math.round(performance.now() - t1)} ms`);
    const writer = new TelemetryWriter(pool, { log: (m) => log(m) });
    const method = await writer.writeMethod();
    log(`telemetry writer: ${method}, defaults (maxBatch 5000, maxDelayMs 20, maxInFlight 2)`);
    const counter = new BadInputCounter();
    const pipeline = new IngestPipeline({
      directory,
      rows: writer,
      // A cluster tell in production; one node here.
      deliver: (target, message) => system.tell(target, message),
      counter,
      logger,
      onStoreFailure: (err) => log(`store failure: ${err.message}`),
    });
    return new GitoIngest(pool, counter, store, system, directory, writer, pipeline, devices);
  }

  async round(
    broker: PrivateMosquitto,
    publisher: Publisher,
    order: Order,
    timeoutMs: number,
  ): Promise<RoundResult> {
    const range = await coveredRange(this.pool);
    const lastTs = order.tsBase + Math.ceil(order.count / order.devices) * 1000;
    if (range === undefined || order.tsBase < range.from || lastTs >= range.to) {
      throw new Error('the round times fall outside the telemetry partitions');
    }
    await this.pool.query('TRUNCATE telemetry');
    const clientId = 'gito-bench-node-1';
    let maxUnacked = 0;
    let lastCommitAt = 0;
    let poller: NodeJS.Timeout | undefined;
    const accepted0 = this.counter.accepted;
    const rejected0 = this.counter.rejected + this.counter.throttled;
    const dup0 = this.writer.stats.duplicates;
    const batches0 = this.writer.stats.batches;
    const ws0 = {
      sum: this.writer.stats.writeSeconds.sum,
      n: this.writer.stats.writeSeconds.count,
    };
    const rowsHist0 = this.writer.stats.batchRows.sum;
    const pauses0 = this.pauses;
    const pipeline = this.pipeline;
    const source = new MqttSource({
      url: broker.url,
      clientId,
      topics: [TOPIC_FILTER],
      shareGroup: SHARE_GROUP,
      logger: benchLogger(),
      // As a node composes them: the PUBACK goes out once the row is committed.
      onMessage: (m: IncomingMessage) => pipeline.handle(m.topic, m.payload, m.receivedAt, m.ack),
    });
    // The last commit is seen by polling the source's acknowledgement count every millisecond
    // (nothing is added to the per-message path); the peak of received - acknowledged is sampled.
    const done = new Promise<void>((resolve) => {
      const poll = () => {
        const c = source.counts();
        if (c.received - c.acked > maxUnacked) maxUnacked = c.received - c.acked;
        if (c.acked >= order.count) {
          lastCommitAt = nowMs();
          resolve();
          return;
        }
        poller = setTimeout(poll, 1);
      };
      poll();
    });
    await source.start();
    const backendPids = await this.backendPids();
    try {
      const cpu = cpuSampler(() => ({
        self: process.pid,
        publisher: publisher.pid,
        mosquitto: broker.pid,
        postgres: backendPids,
      }));
      const trace =
        process.env.INGEST_BENCH_TRACE === '1'
          ? setInterval(() => {
              const c = source.counts();
              log(
                `  trace: received ${c.received}, acked ${c.acked}, writer buffered ${this.writer.buffered}, pipeline in flight ${this.pipeline.inFlight}, rows written ${this.writer.stats.rowsWritten}`,
              );
            }, 500)
          : undefined;
      const gc0 = gcPauseMs();
      const { startedAt, done: published } = await publisher.publish(order);
      await withTimeout(
        Promise.race([done, published.then(() => done)]),
        timeoutMs,
        () =>
          `gito: ${source.counts().acked} of ${order.count} committed (received ${source.counts().received}, writer buffered ${this.writer.buffered}, pipeline in flight ${this.pipeline.inFlight})`,
      );
      clearInterval(trace);
      await this.system.whenIdle();
      const idleAt = nowMs();
      const split = cpu.end();
      const gcMs = gcPauseMs() - gc0;
      await published;
      const end = Math.max(lastCommitAt, idleAt);
      const seconds = (end - startedAt) / 1000;
      const { rows } = await this.pool.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM telemetry',
      );
      const ws = this.writer.stats.writeSeconds;
      const batches = this.writer.stats.batches - batches0;
      return {
        kind: 'gito',
        messages: order.count,
        seconds,
        rate: order.count / seconds,
        cpu: split,
        gcMs,
        rows: Number(rows[0]!.n),
        accepted: this.counter.accepted - accepted0,
        rejected: this.counter.rejected + this.counter.throttled - rejected0,
        duplicates: this.writer.stats.duplicates - dup0,
        idleLagMs: Math.max(0, idleAt - lastCommitAt),
        batches,
        meanBatchRows: batches > 0 ? (this.writer.stats.batchRows.sum - rowsHist0) / batches : 0,
        meanWriteMs: ws.count > ws0.n ? ((ws.sum - ws0.sum) / (ws.count - ws0.n)) * 1000 : 0,
        pauses: this.pauses - pauses0,
        maxUnacked,
      };
    } finally {
      clearTimeout(poller);
      await source.stop();
      await wipeSession(broker.url, clientId);
    }
  }

  /** This database's PostgreSQL backends (the writer's and directory's connections). */
  private async backendPids(): Promise<number[]> {
    const { rows } = await this.pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    return rows.map((r) => r.pid);
  }

  /** Sum of every device's message count (asks each device actor: the live status). */
  async deviceMessages(): Promise<{ total: number; online: number }> {
    let total = 0;
    let online = 0;
    for (let i = 0; i < this.devices; i += 10_000) {
      const end = Math.min(this.devices, i + 10_000);
      const batch: Array<Promise<DeviceStatus>> = [];
      for (let d = i; d < end; d++) {
        batch.push(
          this.system.ask<DeviceStatus>(deviceActorId(TENANT, deviceKey(d, this.devices)), {
            type: 'status',
          }),
        );
      }
      for (const s of await Promise.all(batch)) {
        total += s.messages;
        if (s.online) online++;
      }
    }
    return { total, online };
  }

  async stop(): Promise<void> {
    await this.writer.close();
    await this.system.shutdown();
  }
}

/** A clean-session connect with the same client id discards the persistent session. */
async function wipeSession(url: string, clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 0 });
  await c.endAsync();
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** First ts of the runs: now minus 10 minutes, inside the current month's partition. */
export async function baseTs(pool: Pool): Promise<number> {
  const range = await coveredRange(pool);
  if (range === undefined) throw new Error('no telemetry partitions');
  return Math.max(range.from, Date.now() - 10 * 60_000);
}
