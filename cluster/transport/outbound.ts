import {
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  type ClientDuplexStream,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import {
  type Envelope,
  type Frame,
  type Hello,
  NodeTransportService,
} from '../../proto/generated/gito/cluster/v1/cluster.ts';
import type { Logger } from '../../runtime/logger.ts';
import { describeEnvelope, envelopeSize, framedSize, writeFramedEnvelope } from './codec.ts';
import { MessageTooLargeError, PeerBackpressureError, PeerRefusedError } from './errors.ts';

/**
 * The Connect method's path. We register and call it with our own (de)serializers: we write
 * encoded Frame bytes (codec.ts) and read decoded Frames; on the wire it is the same method.
 */
export const CONNECT_PATH = NodeTransportService.connect.path;

export const passBytes = (bytes: Buffer): Buffer => bytes;

/** Settings shared by every peer of one Transport. */
export interface ResolvedConfig {
  readonly nodeId: string;
  readonly maxFrameBytes: number;
  readonly maxBatch: number;
  readonly maxQueued: number;
  readonly maxQueuedBytes: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly handshakeTimeoutMs: number;
  readonly credentials: ChannelCredentials;
  readonly channelOptions: ChannelOptions;
}

/** Running totals over all peers (per-peer figures live on each peer). */
export class Counters {
  framesSent = 0;
  envelopesSent = 0;
  bytesSent = 0;
  framesReceived = 0;
  envelopesReceived = 0;
  bytesReceived = 0;
  reconnects = 0;
  streamFailures = 0;
  refusals = 0;
}

/** What an outbound peer needs from its Transport. */
export interface PeerContext {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly counters: Counters;
  /** Decodes a received frame (and counts its bytes). */
  readonly deserialize: (bytes: Buffer) => Frame;
  /** Our Hello, with the epoch as of now, as a whole frame. */
  helloFrame(): Buffer;
  /** Why `hello` is unacceptable, or undefined when it is fine. */
  checkHello(hello: Hello | undefined, expectedNodeId?: string): string | undefined;
  peerHello(hello: Hello): void;
  deliver(fromNode: string, envelopes: Envelope[]): void;
}

export type PeerState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

interface QueuedFrame {
  readonly bytes: Buffer;
  /** Kept only so that `disconnect` can hand unsent envelopes back. */
  readonly envelopes: Envelope[];
}

const INITIAL_FRAME_BUFFER = 64 * 1024;

/**
 * Frames handed to gRPC whose write has not completed yet, per stream. gRPC's own stream buffer
 * holds 16 before write() returns false; capping lower keeps envelopes in our queue instead,
 * where a broken stream does not lose them and `disconnect` can return them, and lets the open
 * frame grow meanwhile. HTTP/2 window and socket buffers still keep the pipe full.
 */
const MAX_IN_FLIGHT_FRAMES = 4;

/** Sizes measured by `enqueueMany`'s first pass, reused across calls. */
let scratchSizes: number[] = [];

/**
 * Our side of the stream to one peer: the queue of encoded frames, the gRPC call, handshake,
 * backpressure and reconnects.
 *
 * Envelopes are encoded when they are enqueued, into the open frame buffer; the frame is sealed
 * when it reaches maxBatch envelopes or would pass maxFrameBytes, or at the next tick when the
 * stream can take it. While the stream cannot take more (connecting, reconnecting, or write()
 * returned false), the open frame keeps filling up to its bounds, so batches grow under load.
 */
export class OutboundPeer {
  state: PeerState = 'idle';
  /** Envelopes queued and not yet written to a stream (sealed frames plus the open frame). */
  queued = 0;
  queuedBytes = 0;
  framesSent = 0;
  envelopesSent = 0;
  bytesSent = 0;
  reconnects = 0;
  /** Why the last handshake was refused; cleared by the next successful one. */
  refusal: string | undefined;
  /** The peer's last accepted Hello. */
  remote: Hello | undefined;

  private client: Client | undefined;
  private call: ClientDuplexStream<Buffer, Frame> | undefined;
  /** False after write() returned false, until 'drain'. */
  private writable = false;
  /** Frames written to the current call whose write callback has not fired. */
  private inFlight = 0;
  private readonly frames: QueuedFrame[] = [];
  private buffer: Buffer | undefined;
  /** Capacity of the next frame buffer: what the last handed-over one had grown to. */
  private nextCapacity = INITIAL_FRAME_BUFFER;
  private pos = 0;
  private openEnvelopes: Envelope[] = [];
  private flushScheduled = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private everConnected = false;
  private lostAt = 0;
  /** Set by `closeGracefully`: a failing stream is not redialled. */
  private closing = false;
  private waiters: Array<() => void> = [];

  private readonly flushCallback = (): void => {
    this.flushScheduled = false;
    if (this.canWrite()) {
      this.seal();
      this.pump();
    }
  };
  private readonly redial = (): void => {
    this.reconnectTimer = undefined;
    this.dial();
  };

  constructor(
    readonly id: string,
    public address: string,
    private readonly ctx: PeerContext,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Queueing

  enqueue(e: Envelope): void {
    this.checkSendable(1);
    const config = this.ctx.config;
    const size = envelopeSize(e);
    const framed = framedSize(size);
    if (framed > config.maxFrameBytes) {
      throw new MessageTooLargeError(this.id, describeEnvelope(e), framed, config.maxFrameBytes);
    }
    if (this.queuedBytes + framed > config.maxQueuedBytes && this.queued > 0) {
      throw new PeerBackpressureError(this.id, this.queuedBytes, config.maxQueuedBytes, 'bytes');
    }
    this.append(e, size, framed);
    this.afterAppend();
  }

  /** All or nothing: either every envelope is queued (in order) or none is and this throws. */
  enqueueMany(list: readonly Envelope[]): void {
    const n = list.length;
    if (n === 0) return;
    this.checkSendable(n);
    const config = this.ctx.config;
    if (scratchSizes.length < n) scratchSizes = new Array<number>(n).fill(0);
    const sizes = scratchSizes;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const e = list[i]!;
      const size = envelopeSize(e);
      const framed = framedSize(size);
      if (framed > config.maxFrameBytes) {
        throw new MessageTooLargeError(this.id, describeEnvelope(e), framed, config.maxFrameBytes);
      }
      sizes[i] = size;
      bytes += framed;
    }
    if (this.queuedBytes + bytes > config.maxQueuedBytes && this.queued > 0) {
      throw new PeerBackpressureError(this.id, this.queuedBytes, config.maxQueuedBytes, 'bytes');
    }
    for (let i = 0; i < n; i++) {
      const size = sizes[i]!;
      this.append(list[i]!, size, framedSize(size));
    }
    this.afterAppend();
  }

  private checkSendable(count: number): void {
    if (this.refusal !== undefined) throw new PeerRefusedError(this.id, this.refusal);
    const limit = this.ctx.config.maxQueued;
    if (this.queued + count > limit) {
      throw new PeerBackpressureError(this.id, this.queued, limit, 'envelopes');
    }
  }

  private append(e: Envelope, size: number, framed: number): void {
    const config = this.ctx.config;
    if (this.pos + framed > config.maxFrameBytes) this.seal();
    let buffer = this.buffer;
    if (buffer === undefined || this.pos + framed > buffer.length) buffer = this.grow(framed);
    this.pos = writeFramedEnvelope(buffer, this.pos, e, size);
    this.openEnvelopes.push(e);
    this.queued++;
    this.queuedBytes += framed;
    if (this.openEnvelopes.length >= config.maxBatch) this.seal();
  }

  private canWrite(): boolean {
    return this.state === 'ready' && this.writable && this.inFlight < MAX_IN_FLIGHT_FRAMES;
  }

  private afterAppend(): void {
    if (this.state === 'idle') this.dial();
    // Otherwise the next write completion, 'drain' or the handshake flushes.
    if (!this.canWrite()) return;
    if (this.frames.length > 0) this.pump();
    if (this.openEnvelopes.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushCallback);
    }
  }

  private grow(need: number): Buffer {
    const old = this.buffer;
    let size = old === undefined ? this.nextCapacity : old.length * 2;
    while (size < this.pos + need) size *= 2;
    // pos + need never exceeds maxFrameBytes (append sealed the frame otherwise).
    size = Math.min(size, this.ctx.config.maxFrameBytes);
    const next = Buffer.allocUnsafe(size);
    if (old !== undefined && this.pos > 0) old.copy(next, 0, 0, this.pos);
    this.buffer = next;
    return next;
  }

  /** Closes the open frame and appends it to the frames waiting for the stream. */
  private seal(): void {
    if (this.openEnvelopes.length === 0) return;
    const buffer = this.buffer!;
    let bytes: Buffer;
    if (this.pos * 2 >= buffer.length) {
      // Mostly full: hand the buffer itself over and start a new one on the next append.
      bytes = buffer.subarray(0, this.pos);
      this.buffer = undefined;
      this.nextCapacity = buffer.length;
    } else {
      bytes = Buffer.allocUnsafe(this.pos);
      buffer.copy(bytes, 0, 0, this.pos);
      if (buffer.length > INITIAL_FRAME_BUFFER && this.pos * 8 < buffer.length) {
        // Grown for a large envelope once; do not keep megabytes per peer for small frames.
        this.buffer = undefined;
        this.nextCapacity = INITIAL_FRAME_BUFFER;
      }
    }
    this.frames.push({ bytes, envelopes: this.openEnvelopes });
    this.openEnvelopes = [];
    this.pos = 0;
  }

  /** Writes sealed frames until the stream pushes back. */
  private pump(): void {
    const call = this.call;
    if (call === undefined || this.state !== 'ready') return;
    const counters = this.ctx.counters;
    while (this.writable && this.inFlight < MAX_IN_FLIGHT_FRAMES && this.frames.length > 0) {
      const frame = this.frames.shift()!;
      const count = frame.envelopes.length;
      const bytes = frame.bytes.length;
      this.queued -= count;
      this.queuedBytes -= bytes;
      this.framesSent++;
      this.envelopesSent += count;
      this.bytesSent += bytes;
      counters.framesSent++;
      counters.envelopesSent += count;
      counters.bytesSent += bytes;
      // From here on the envelopes are "written": if the stream breaks they may be lost.
      this.inFlight++;
      if (!call.write(frame.bytes, () => this.onWritten(call))) {
        this.writable = false;
        call.once('drain', () => this.onDrain(call));
      }
    }
    this.notify();
  }

  private onDrain(call: ClientDuplexStream<Buffer, Frame>): void {
    if (call !== this.call || this.state !== 'ready') return;
    this.writable = true;
    if (this.canWrite()) {
      this.seal();
      this.pump();
    }
  }

  private onWritten(call: ClientDuplexStream<Buffer, Frame>): void {
    if (call !== this.call) return;
    this.inFlight--;
    if (this.canWrite()) {
      this.seal();
      this.pump();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  /** The peer now lives at another address: drop the stream and dial the new one at once. */
  setAddress(address: string): void {
    if (address === this.address || this.state === 'closed') return;
    this.ctx.logger.info(
      { peer: this.id, from: this.address, to: address },
      'peer address changed; redialling',
    );
    this.address = address;
    if (this.state === 'ready') this.lostAt = Date.now();
    this.dropCall();
    this.client?.close();
    this.client = undefined;
    this.refusal = undefined;
    this.attempt = 0;
    if (this.state !== 'idle') {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.dial();
    }
  }

  private dial(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const ctx = this.ctx;
    this.client ??= new Client(this.address, ctx.config.credentials, ctx.config.channelOptions);
    // No deadline: the stream lives until either side ends it.
    const call = this.client.makeBidiStreamRequest(CONNECT_PATH, passBytes, ctx.deserialize);
    this.call = call;
    this.writable = false;
    this.inFlight = 0;
    call.on('data', (frame: Frame) => this.onFrame(call, frame));
    // 'status' always follows and carries the same information.
    call.on('error', () => {});
    call.on('status', (s: StatusObject) => this.onCallEnded(call, s));
    call.write(ctx.helloFrame());
    this.handshakeTimer = setTimeout(() => {
      if (call !== this.call || this.state !== 'connecting') return;
      ctx.logger.warn(
        { peer: this.id, address: this.address, timeoutMs: ctx.config.handshakeTimeoutMs },
        'no Hello from peer in time; redialling',
      );
      call.cancel();
    }, ctx.config.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  private onFrame(call: ClientDuplexStream<Buffer, Frame>, frame: Frame): void {
    if (call !== this.call) return;
    const counters = this.ctx.counters;
    counters.framesReceived++;
    if (this.state === 'connecting') {
      const problem = this.ctx.checkHello(frame.hello, this.id);
      if (problem !== undefined) {
        this.refuse(`${problem} (at ${this.address})`);
        call.cancel();
        return;
      }
      this.connected(frame.hello!);
    }
    // By our design the serving side only sends Hello; a peer that sends envelopes back on this
    // stream is heard all the same.
    if (frame.envelopes.length > 0) this.ctx.deliver(this.id, frame.envelopes);
  }

  private connected(hello: Hello): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.state = 'ready';
    this.writable = true;
    this.refusal = undefined;
    this.remote = hello;
    const attempts = this.attempt;
    this.attempt = 0;
    if (this.everConnected) {
      this.reconnects++;
      this.ctx.counters.reconnects++;
      this.ctx.logger.info(
        {
          peer: this.id,
          address: this.address,
          attempts,
          downMs: Date.now() - this.lostAt,
          queued: this.queued,
        },
        'stream to peer re-established',
      );
    } else {
      this.ctx.logger.debug({ peer: this.id, address: this.address }, 'stream to peer open');
    }
    this.everConnected = true;
    this.ctx.peerHello(hello);
    this.seal();
    this.pump();
  }

  private refuse(reason: string): void {
    if (this.refusal === undefined) {
      this.ctx.counters.refusals++;
      this.ctx.logger.error(
        { peer: this.id, address: this.address, reason },
        'stream to peer refused; sends to it fail until a handshake succeeds',
      );
    }
    this.refusal = reason;
  }

  private onCallEnded(call: ClientDuplexStream<Buffer, Frame>, s: StatusObject): void {
    if (call !== this.call) return;
    const wasReady = this.state === 'ready';
    this.call = undefined;
    this.writable = false;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (this.state === 'closed') return;
    if (this.closing) {
      this.state = 'backoff';
      this.notify();
      return;
    }
    if (s.code === status.FAILED_PRECONDITION) {
      this.refuse(s.details);
    } else if (s.code === status.UNIMPLEMENTED) {
      this.refuse(`${this.address} does not serve gito.cluster.v1.NodeTransport (${s.details})`);
    }
    if (wasReady) {
      this.lostAt = Date.now();
      this.ctx.counters.streamFailures++;
      const fields = {
        peer: this.id,
        address: this.address,
        code: status[s.code] ?? s.code,
        details: s.details,
        queued: this.queued,
      };
      if (s.code === status.OK) this.ctx.logger.info(fields, 'peer ended the stream');
      else this.ctx.logger.warn(fields, 'stream to peer lost; reconnecting');
    } else {
      this.ctx.logger.debug(
        { peer: this.id, address: this.address, code: s.code, details: s.details },
        'could not open stream to peer',
      );
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const config = this.ctx.config;
    this.state = 'backoff';
    let delay: number;
    if (this.refusal !== undefined) {
      delay = config.reconnectMaxMs;
    } else {
      const ceiling = Math.min(config.reconnectMaxMs, config.reconnectMinMs * 2 ** this.attempt);
      // "Equal jitter": half fixed, half random, so that peers do not redial in lockstep.
      delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    }
    this.attempt++;
    this.reconnectTimer = setTimeout(this.redial, delay);
    this.reconnectTimer.unref();
    this.notify();
  }

  private dropCall(): void {
    const call = this.call;
    this.call = undefined;
    this.writable = false;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    call?.cancel();
  }

  // -------------------------------------------------------------------------------------------
  // Shutdown

  /**
   * Stops at once: cancels the stream, closes the channel, and returns the envelopes never
   * written to a stream, in order. Frames already written may or may not arrive.
   */
  destroy(): Envelope[] {
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.dropCall();
    this.client?.close();
    this.client = undefined;
    const unsent: Envelope[] = [];
    for (const frame of this.frames) for (const e of frame.envelopes) unsent.push(e);
    for (const e of this.openEnvelopes) unsent.push(e);
    this.frames.length = 0;
    this.openEnvelopes = [];
    this.buffer = undefined;
    this.pos = 0;
    this.queued = 0;
    this.queuedBytes = 0;
    this.notify();
    return unsent;
  }

  /**
   * Sends what is queued, half-closes the stream and waits until the peer has ended it (it has
   * then read every frame), all by `deadline` (epoch ms); then destroys. Returns how many
   * envelopes were never written.
   */
  async closeGracefully(deadline: number): Promise<number> {
    this.closing = true;
    if (this.state === 'backoff' && this.queued > 0) {
      // One more try, without waiting for the backoff.
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.dial();
    }
    for (;;) {
      if (this.state === 'ready') {
        if (this.canWrite()) {
          this.seal();
          this.pump();
        }
        if (this.queued === 0) break;
      }
      if (this.state !== 'ready' && this.state !== 'connecting') break;
      if (Date.now() >= deadline) break;
      await this.changed(deadline);
    }
    const call = this.call;
    if (call !== undefined && this.state === 'ready' && this.queued === 0) {
      call.end();
      while (this.call === call && Date.now() < deadline) await this.changed(deadline);
    }
    return this.destroy().length;
  }

  private changed(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
