import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../../runtime/index.ts';

/** One message from the broker; call `ack()` once it is safely stored (QoS 1). */
export interface IncomingMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
  /** Acknowledge to the broker. Idempotent; a no-op for QoS 0 messages. */
  ack(): void;
}

export interface MqttSourceOptions {
  readonly url: string;
  /** Stable per node: the broker keeps the node's unacknowledged messages under this id. */
  readonly clientId: string;
  /** Topic filters; with `shareGroup` each becomes `$share/{group}/{filter}`. */
  readonly topics: readonly string[];
  readonly shareGroup?: string;
  readonly username?: string;
  readonly password?: string;
  readonly protocolVersion?: 4 | 5;
  readonly logger: Logger;
  readonly onMessage: (message: IncomingMessage) => void;
  /**
   * Received but not yet acknowledged messages this node may hold before it stops reading from
   * the broker (TCP backpressure; the broker queues). Default 20,000. Mosquitto's
   * max_inflight_messages does not bound this for a subscriber that acknowledges in order.
   */
  readonly maxUnacked?: number;
}

interface PacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: () => void): void;
}

/**
 * An MQTT subscriber whose QoS 1 acknowledgements are sent only when the application says the
 * message is stored, not when it arrives.
 *
 * mqtt.js handles incoming packets one at a time and sends PUBACK when `handleMessage` calls
 * back; delaying that callback until a database batch commits would serialise the whole stream
 * (one batch per message). So `handleMessage` calls back at once with a marker error, which makes
 * mqtt.js skip its own PUBACK and move on, and `ack()` sends the PUBACK later through the
 * client's packet writer. mqtt.js has no public API for deferred acknowledgement (its
 * `customHandleAcks` is MQTT 5 only and serialises the same way), hence the private call.
 *
 * The session is persistent (`clean: false`, fixed client id): if this process dies before
 * acknowledging, the broker redelivers the messages when the node reconnects.
 */
export class MqttSource {
  private client: MqttClient | undefined;
  private readonly deferred = new Error('gito: acknowledgement deferred until stored');
  private stats = { received: 0, acked: 0 };
  private unacked = 0;
  private throttled = false;
  private externallyPaused = false;

  constructor(private readonly options: MqttSourceOptions) {}

  async start(): Promise<void> {
    const o = this.options;
    const clientOptions: IClientOptions = {
      clientId: o.clientId,
      clean: false,
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: 1_000,
      // mqtt.js formats a debug line for every packet unless given a logger; we log ourselves.
      log: () => {},
      connectTimeout: 10_000,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3_600 } } : {}),
    };
    const client = mqtt.connect(o.url, clientOptions);
    this.client = client;
    const sender = client as unknown as PacketSender;
    client.handleMessage = (packet, callback) => {
      if (packet.cmd === 'publish' && packet.qos === 1) {
        const messageId = packet.messageId!;
        let acked = false;
        this.unacked++;
        if (!this.throttled && this.unacked >= this.maxUnacked) {
          this.throttled = true;
          this.applyPause();
        }
        const ack = () => {
          if (acked) return;
          acked = true;
          this.stats.acked++;
          this.unacked--;
          if (this.throttled && this.unacked <= this.maxUnacked / 2) {
            this.throttled = false;
            this.applyPause();
          }
          if (client.connected) sender._sendPacket({ cmd: 'puback', messageId });
          // Not connected: the broker will redeliver this message on reconnect; we store it again
          // (idempotently, the telemetry table ignores duplicates) and acknowledge that copy.
        };
        this.deliver(packet.topic, packet.payload as Buffer, ack);
        callback(this.deferred);
        return;
      }
      if (packet.cmd === 'publish') this.deliver(packet.topic, packet.payload as Buffer, () => {});
      callback();
    };
    client.on('error', (err) => o.logger.warn({ err: err.message }, 'mqtt client error'));
    client.on('offline', () =>
      o.logger.warn({ url: o.url }, 'mqtt broker unreachable; reconnecting'),
    );
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        client.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        client.off('connect', onConnect);
        reject(err);
      };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    const filters = o.topics.map((t) =>
      o.shareGroup === undefined ? t : `$share/${o.shareGroup}/${t}`,
    );
    await client.subscribeAsync(filters, { qos: 1 });
    o.logger.info({ url: o.url, filters, clientId: o.clientId }, 'subscribed to telemetry');
  }

  private deliver(topic: string, payload: Buffer, ack: () => void): void {
    this.stats.received++;
    const receivedAt = Date.now();
    try {
      this.options.onMessage({ topic, payload, receivedAt, ack });
    } catch (err) {
      // The pipeline decides what is acknowledged; an exception here is a bug, never a reason to
      // stop the stream. Leave it unacknowledged so the broker redelivers it.
      this.options.logger.error({ topic, err: String(err) }, 'ingest pipeline threw');
    }
  }

  /** Stop reading from the broker (TCP backpressure: the broker holds the messages). */
  pause(): void {
    this.externallyPaused = true;
    this.applyPause();
  }

  resume(): void {
    this.externallyPaused = false;
    this.applyPause();
  }

  private get maxUnacked(): number {
    return this.options.maxUnacked ?? 20_000;
  }

  private applyPause(): void {
    const stream = this.client?.stream;
    if (stream === undefined) return;
    if (this.throttled || this.externallyPaused) stream.pause();
    else stream.resume();
  }

  /**
   * Drops and re-opens the connection: the broker then redelivers every message this node has
   * not acknowledged (used after a storage failure, since a broker redelivers only on reconnect).
   */
  reconnect(): void {
    const client = this.client;
    if (client === undefined) return;
    this.options.logger.warn(
      {},
      'reconnecting to the broker to have unstored messages redelivered',
    );
    client.reconnect();
  }

  counts(): { received: number; acked: number } {
    return { ...this.stats };
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * Leaves the (shared) subscription, so the broker stops routing new messages to this node,
   * while messages already sent keep arriving and can still be stored and acknowledged.
   */
  async unsubscribe(): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) return;
    const o = this.options;
    const filters = o.topics.map((t) =>
      o.shareGroup === undefined ? t : `$share/${o.shareGroup}/${t}`,
    );
    await client.unsubscribeAsync(filters).catch((err: unknown) => {
      o.logger.warn(
        { err: String(err) },
        'unsubscribe failed; the broker keeps routing to our session',
      );
    });
  }

  /** Disconnects, keeping the session (unacknowledged messages stay with the broker). */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.endAsync(false);
  }
}
