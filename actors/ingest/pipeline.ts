import type {
  DevEuiResolution,
  DeviceDirectory,
  DeviceResolution,
} from '../../db/devices/directory.ts';
import { TelemetryOutOfRangeError, type TelemetryRow } from '../../db/telemetry/writer.ts';
import type { Logger } from '../../runtime/index.ts';
import { RateLimitedLog } from '../../runtime/logger.ts';
import { deviceActorId } from '../device/index.ts';
import type { DeviceMessage } from '../device/types.ts';
import { type BadInputCounter, BadInputLog } from './bad-input.ts';
import { parseTelemetry } from './parse.ts';
import type { KeyedRateLimiter } from './rate-limit.ts';
import { DEFAULT_LIMITS, type IngestLimits, type TelemetryReading } from './types.ts';

/** Where accepted rows go: the batched writer (db/telemetry/writer.ts) in production. */
export interface RowSink {
  /** False when the buffer is full (backpressure): try again later. */
  add(row: TelemetryRow, onCommitted: (err?: Error) => void): boolean;
}

export interface IngestPipelineOptions {
  readonly directory: Pick<DeviceDirectory, 'peek' | 'resolve' | 'resolveDevEui'>;
  readonly rows: RowSink;
  /** Delivers a status update to the device actor (a cluster `tell` in production). */
  readonly deliver: (target: string, message: DeviceMessage) => void;
  readonly counter: BadInputCounter;
  readonly logger: Logger;
  readonly rateLimiter?: KeyedRateLimiter;
  readonly limits?: IngestLimits;
  /**
   * Rows could not be stored even after the writer's retries: the messages were not
   * acknowledged, so the source should reconnect to have the broker redeliver them.
   */
  readonly onStoreFailure?: (err: Error) => void;
}

/** Messages waiting for writer capacity before the source is asked to pause. */
const OVERFLOW_LIMIT = 50_000;

/**
 * The ingest path shared by MQTT and HTTP: parse and validate, find the device, throttle floods,
 * store the reading (acknowledging the message only once its batch is committed) and update the
 * device actor. Bad input is counted, logged (rate-limited) with its topic and reason, and
 * acknowledged so it never blocks the stream.
 */
export class IngestPipeline {
  private readonly badLog: BadInputLog;
  private readonly warn: RateLimitedLog;
  private readonly limits: IngestLimits;
  private overflow: Array<{ row: TelemetryRow; done: (err?: Error) => void }> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly pauseListeners: Array<(paused: boolean) => void> = [];
  private paused = false;
  /** Readings whose device lookup or storage is in progress. */
  inFlight = 0;

  constructor(private readonly options: IngestPipelineOptions) {
    this.badLog = new BadInputLog(options.logger);
    this.warn = new RateLimitedLog(options.logger);
    this.limits = options.limits ?? DEFAULT_LIMITS;
  }

  /** The source should stop reading while paused (the writer is behind). */
  onPause(listener: (paused: boolean) => void): void {
    this.pauseListeners.push(listener);
  }

  /** One MQTT message. `ack` acknowledges it to the broker. Never throws. */
  handle(topic: string, payload: Buffer, receivedAt: number, ack: () => void): void {
    const parsed = parseTelemetry(topic, payload, receivedAt, this.limits);
    if (!parsed.ok) {
      this.drop(topic, parsed.reason, parsed.detail, ack);
      return;
    }
    this.route(topic, parsed.reading, receivedAt, ack);
  }

  /** A reading from the HTTP ingest route: resolves when stored (or rejects with the reason). */
  handleReading(reading: TelemetryReading, receivedAt: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.route(
        `http:${reading.tenantId}/${reading.deviceKey ?? ''}`,
        reading,
        receivedAt,
        resolve,
        reject,
      );
    });
  }

  private route(
    topic: string,
    reading: TelemetryReading,
    receivedAt: number,
    ack: () => void,
    refuse?: (err: Error) => void,
  ): void {
    if (reading.devEui !== undefined && reading.tenantId === '') {
      this.inFlight++;
      this.options.directory.resolveDevEui(reading.devEui).then(
        (found: DevEuiResolution) => {
          this.inFlight--;
          if (!found.ok) {
            this.drop(topic, found.reason, `no device with DevEUI ${reading.devEui}`, ack, refuse);
          } else if (!found.enabled) {
            this.drop(
              topic,
              'device-disabled',
              `device ${found.deviceKey} is disabled`,
              ack,
              refuse,
            );
          } else {
            this.accept(
              topic,
              reading,
              found.tenantId,
              found.deviceKey,
              found.deviceId,
              receivedAt,
              ack,
              refuse,
            );
          }
        },
        (err: unknown) => this.lookupFailed(topic, err, refuse),
      );
      return;
    }
    const tenantId = reading.tenantId;
    const deviceKey = reading.deviceKey ?? '';
    const cached = this.options.directory.peek(tenantId, deviceKey);
    if (cached !== undefined) {
      this.resolved(topic, reading, tenantId, deviceKey, cached, receivedAt, ack, refuse);
      return;
    }
    this.inFlight++;
    this.options.directory.resolve(tenantId, deviceKey).then(
      (found) => {
        this.inFlight--;
        this.resolved(topic, reading, tenantId, deviceKey, found, receivedAt, ack, refuse);
      },
      (err: unknown) => this.lookupFailed(topic, err, refuse),
    );
  }

  private resolved(
    topic: string,
    reading: TelemetryReading,
    tenantId: string,
    deviceKey: string,
    found: DeviceResolution,
    receivedAt: number,
    ack: () => void,
    refuse?: (err: Error) => void,
  ): void {
    if (!found.ok) {
      const detail =
        found.reason === 'unknown-tenant'
          ? `no tenant '${tenantId}'`
          : `no device '${deviceKey}' in tenant '${tenantId}'`;
      this.drop(topic, found.reason, detail, ack, refuse);
    } else if (!found.enabled) {
      this.drop(topic, 'device-disabled', `device '${deviceKey}' is disabled`, ack, refuse);
    } else {
      this.accept(topic, reading, tenantId, deviceKey, found.deviceId, receivedAt, ack, refuse);
    }
  }

  private accept(
    topic: string,
    reading: TelemetryReading,
    tenantId: string,
    deviceKey: string,
    deviceId: number,
    receivedAt: number,
    ack: () => void,
    refuse?: (err: Error) => void,
  ): void {
    const actor = deviceActorId(tenantId, deviceKey);
    const limiter = this.options.rateLimiter;
    if (limiter !== undefined && !limiter.allow(actor, receivedAt)) {
      this.drop(
        topic,
        'rate-limited',
        `device '${deviceKey}' of '${tenantId}' exceeds its rate limit`,
        ack,
        refuse,
      );
      return;
    }
    this.options.counter.accept();
    try {
      this.options.deliver(actor, {
        type: 'telemetry',
        ts: reading.ts,
        metrics: reading.metrics,
        receivedAt,
      });
    } catch (err) {
      // The reading is still stored; only the live status misses it (the next one updates it).
      this.warn.warn('deliver', { actor, err: String(err) }, 'device actor did not take a reading');
    }
    const row: TelemetryRow = { deviceId, ts: reading.ts, metrics: reading.metrics };
    const done = (err?: Error) => {
      this.inFlight--;
      if (err === undefined) {
        ack();
      } else if (err instanceof TelemetryOutOfRangeError) {
        // Permanent for this message: its time has no partition. Counted, acknowledged, dropped.
        this.options.counter.reject('bad-timestamp');
        this.badLog.report(topic, 'bad-timestamp', err.message);
        if (refuse !== undefined) refuse(err);
        else ack();
      } else {
        // Not stored and not acknowledged: the broker must redeliver it.
        if (refuse !== undefined) refuse(err);
        this.options.onStoreFailure?.(err);
      }
    };
    this.inFlight++;
    if (this.overflow.length > 0 || !this.options.rows.add(row, done)) {
      // The writer's buffer is full: keep order, retry shortly, and pause the source if the
      // backlog grows (the broker then holds the messages, which is what it is for).
      this.overflow.push({ row, done });
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (!this.paused && this.overflow.length >= OVERFLOW_LIMIT) this.setPaused(true);
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      let sent = 0;
      while (sent < this.overflow.length) {
        const { row, done } = this.overflow[sent]!;
        if (!this.options.rows.add(row, done)) break;
        sent++;
      }
      this.overflow.splice(0, sent);
      if (this.overflow.length > 0) this.scheduleRetry();
      else if (this.paused) this.setPaused(false);
    }, 2);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    for (const listener of this.pauseListeners) listener(paused);
  }

  private drop(
    topic: string,
    reason: Parameters<BadInputCounter['reject']>[0],
    detail: string,
    ack: () => void,
    refuse?: (err: Error) => void,
  ): void {
    this.options.counter.reject(reason);
    this.badLog.report(topic, reason, detail);
    if (refuse !== undefined) refuse(new IngestRejectedError(reason, detail));
    else ack();
  }

  private lookupFailed(topic: string, err: unknown, refuse?: (err: Error) => void): void {
    this.inFlight--;
    const error = err instanceof Error ? err : new Error(String(err));
    this.warn.warn(
      'lookup',
      { topic, err: error.message },
      'device lookup failed; message left for redelivery',
    );
    if (refuse !== undefined) refuse(error);
    this.options.onStoreFailure?.(error);
  }
}

/** A reading refused for a bad-input reason (HTTP ingest maps it to a 4xx answer). */
export class IngestRejectedError extends Error {
  override readonly name = 'IngestRejectedError';
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}
