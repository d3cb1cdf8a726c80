import type { Http2Server, ServerHttp2Session } from 'node:http2';
import {
  type ChannelCredentials,
  type ChannelOptions,
  credentials,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerErrorResponse,
  type ServerMethodDefinition,
  type ServiceDefinition,
  status,
} from '@grpc/grpc-js';
import type { Envelope, Frame, Hello } from '../../proto/generated/gito/cluster/v1/cluster.ts';
import { PROTOCOL_VERSION } from '../../proto/protocol-version.ts';
import { type Logger, RateLimitedLog } from '../../runtime/logger.ts';
import { HASH_VERSION } from '../placement/index.ts';
import { decodeFrame, encodeHelloFrame } from './codec.ts';
import { SendToSelfError, TransportClosedError } from './errors.ts';
import {
  CONNECT_PATH,
  Counters,
  OutboundPeer,
  type PeerContext,
  type PeerState,
  passBytes,
  type ResolvedConfig,
} from './outbound.ts';
import type { TransportHandler, TransportOptions } from './types.ts';

export const DEFAULTS = {
  maxFrameBytes: 4 * 1024 * 1024,
  maxBatch: 1000,
  maxQueuedPerPeer: 100_000,
  maxQueuedBytesPerPeer: 64 * 1024 * 1024,
  reconnectMinMs: 50,
  reconnectMaxMs: 5000,
  keepaliveMs: 10_000,
  keepaliveTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
  closeTimeoutMs: 2000,
  flowControlWindowBytes: 1024 * 1024,
} as const;

/** A peer as the cluster layer knows it from membership. */
export interface PeerAddress {
  readonly id: string;
  /** host:port of the peer's transport (its advertised address). */
  readonly address: string;
}

export interface OutboundPeerStats {
  readonly address: string;
  /** idle: never dialled; connecting: awaiting the peer's Hello; backoff: waiting to redial. */
  readonly state: PeerState;
  /** Envelopes not yet written to a stream (this is what maxQueuedPerPeer bounds). */
  readonly queued: number;
  readonly queuedBytes: number;
  readonly framesSent: number;
  readonly envelopesSent: number;
  readonly bytesSent: number;
  /** Streams re-established after one failed. */
  readonly reconnects: number;
  /** Set while the peer is refused (version mismatch and the like). */
  readonly refused?: string;
  /** The peer's incarnation from its last accepted Hello. */
  readonly incarnation?: number;
}

export interface InboundPeerStats {
  /** Open streams from the peer (normally 1). */
  readonly streams: number;
  readonly framesReceived: number;
  readonly envelopesReceived: number;
}

export interface TransportStats {
  readonly framesSent: number;
  readonly envelopesSent: number;
  readonly bytesSent: number;
  readonly framesReceived: number;
  readonly envelopesReceived: number;
  readonly bytesReceived: number;
  readonly reconnects: number;
  /** Established outbound streams that failed or were ended by the peer. */
  readonly streamFailures: number;
  /** Handshakes refused, by us or by peers. */
  readonly refusals: number;
  /** Per peer we send to (removed by `disconnect`). */
  readonly outbound: Readonly<Record<string, OutboundPeerStats>>;
  /** Per peer that has sent to us. */
  readonly inbound: Readonly<Record<string, InboundPeerStats>>;
}

interface InboundStream {
  readonly call: ServerDuplexStream<Frame, Buffer>;
  /** Set once the peer's Hello is accepted. */
  nodeId: string | undefined;
  /** Refused, ended, or replaced by a newer stream from the same node: frames are ignored. */
  done: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Node-to-node transport: one long-lived bidirectional gRPC stream per peer, envelopes batched
 * into frames, bounded queues with backpressure, reconnects with backoff, optional (m)TLS.
 *
 * Directions. Each node dials the peers it sends to (lazily, on the first `send`) and sends only
 * on its own outbound stream; a stream a peer opened to us is receive-only, except for our Hello
 * on it. So two nodes that talk both ways hold two streams (two HTTP/2 connections). Frames
 * received on either kind of stream go to `handler.onEnvelopes` in order.
 *
 * Delivery (per peer):
 * - Envelopes are encoded and queued at `send`. Queued envelopes survive stream failures and
 *   reconnects and are written, in order, on the next stream to the peer; `disconnect` returns
 *   them, and `close` drops what it could not flush by its deadline (logged).
 * - An envelope is "written" once its frame has been handed to the gRPC stream. Written frames
 *   whose stream then breaks (peer killed, connection reset, keepalive timeout) may or may not
 *   have reached the peer's handler: at most once, never duplicated, never retried. Across a
 *   reconnect the receiver therefore sees the envelopes in order with a possible gap (the frames
 *   in flight when the old stream broke); the receiver ignores what is left of an older stream
 *   from a node once a newer one from it is accepted, so frames never interleave. Turning lost
 *   asks into timeouts (and noticing restarts through `onPeerHello`) is the cluster layer's job.
 * - What can be lost that way is bounded: at most 4 frames handed to gRPC whose write has not
 *   completed (we also stop when write() returns false), plus what fits in the peer's HTTP/2
 *   receive window (its flowControlWindowBytes, 1 MiB by default) and the two sockets' buffers.
 *   Measured behind a stalled receiver on loopback: ~11,000 envelopes of ~250 B (~2.7 MB) had
 *   left the queue; the rest (maxQueuedPerPeer) waited in it.
 * - Lost frames are not detected by the transport (there are no acknowledgements).
 */
export class Transport {
  private readonly config: ResolvedConfig;
  private readonly counters = new Counters();
  private readonly peers = new Map<string, OutboundPeer>();
  private readonly inbound = new Set<InboundStream>();
  private readonly received = new Map<string, { frames: number; envelopes: number }>();
  private readonly serverCredentials: ServerCredentials;
  private readonly serverOptions: ChannelOptions;
  private readonly closeTimeoutMs: number;
  private readonly flowControlWindow: number;
  private readonly rateLimited: RateLimitedLog;
  private readonly ctx: PeerContext;
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: TransportOptions,
    private readonly handler: TransportHandler,
    private readonly logger: Logger,
  ) {
    const maxFrameBytes = positive('maxFrameBytes', options.maxFrameBytes, DEFAULTS.maxFrameBytes);
    const keepaliveMs = positive('keepaliveMs', options.keepaliveMs, DEFAULTS.keepaliveMs);
    const keepaliveTimeoutMs = positive(
      'keepaliveTimeoutMs',
      options.keepaliveTimeoutMs,
      DEFAULTS.keepaliveTimeoutMs,
    );
    const reconnectMinMs = positive(
      'reconnectMinMs',
      options.reconnectMinMs,
      DEFAULTS.reconnectMinMs,
    );
    const reconnectMaxMs = Math.max(
      reconnectMinMs,
      positive('reconnectMaxMs', options.reconnectMaxMs, DEFAULTS.reconnectMaxMs),
    );
    if (options.nodeId.length === 0) throw new TypeError('TransportOptions.nodeId is empty');
    const tls = options.tls;
    let channelCredentials: ChannelCredentials;
    if (tls === undefined) {
      channelCredentials = credentials.createInsecure();
      this.serverCredentials = ServerCredentials.createInsecure();
    } else {
      // The client side presents its certificate too; the server asks for it only under mTLS.
      channelCredentials = credentials.createSsl(tls.ca, tls.key, tls.cert);
      this.serverCredentials = ServerCredentials.createSsl(
        tls.ca,
        [{ cert_chain: tls.cert, private_key: tls.key }],
        tls.mutual,
      );
    }
    this.flowControlWindow = positive(
      'flowControlWindowBytes',
      options.flowControlWindowBytes,
      DEFAULTS.flowControlWindowBytes,
    );
    const common: ChannelOptions = {
      // Our receive window (HTTP/2, per stream and per connection). grpc-js 1.14 honours it on
      // the client side only; see raiseInboundWindows for the server side.
      'grpc-node.flow_control_window': this.flowControlWindow,
      'grpc.max_send_message_length': maxFrameBytes,
      'grpc.max_receive_message_length': maxFrameBytes,
      'grpc.keepalive_time_ms': keepaliveMs,
      'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
    };
    this.serverOptions = common;
    this.config = {
      nodeId: options.nodeId,
      maxFrameBytes,
      maxBatch: positive('maxBatch', options.maxBatch, DEFAULTS.maxBatch),
      maxQueued: positive('maxQueuedPerPeer', options.maxQueuedPerPeer, DEFAULTS.maxQueuedPerPeer),
      maxQueuedBytes: positive(
        'maxQueuedBytesPerPeer',
        options.maxQueuedBytesPerPeer,
        DEFAULTS.maxQueuedBytesPerPeer,
      ),
      reconnectMinMs,
      reconnectMaxMs,
      handshakeTimeoutMs: positive(
        'handshakeTimeoutMs',
        options.handshakeTimeoutMs,
        DEFAULTS.handshakeTimeoutMs,
      ),
      credentials: channelCredentials,
      channelOptions: {
        ...common,
        // The channel's own reconnect backoff, kept in step with ours.
        'grpc.initial_reconnect_backoff_ms': reconnectMinMs,
        'grpc.max_reconnect_backoff_ms': reconnectMaxMs,
        // Retries would buffer every frame of the stream for a replay we do not want.
        'grpc.enable_retries': 0,
        // A connection per Transport, not shared with other clients in the process.
        'grpc.use_local_subchannel_pool': 1,
        ...(tls?.serverName === undefined
          ? {}
          : { 'grpc.ssl_target_name_override': tls.serverName }),
      },
    };
    this.closeTimeoutMs = positive(
      'closeTimeoutMs',
      options.closeTimeoutMs,
      DEFAULTS.closeTimeoutMs,
    );
    this.rateLimited = new RateLimitedLog(logger);
    const counters = this.counters;
    this.ctx = {
      config: this.config,
      logger,
      counters,
      deserialize: (bytes: Buffer): Frame => {
        counters.bytesReceived += bytes.length;
        try {
          return decodeFrame(bytes);
        } catch (err) {
          // gRPC ends the stream with INTERNAL and does not say why; we do.
          this.rateLimited.warn(
            'decode',
            { err, bytes: bytes.length },
            'malformed frame; stream closed',
          );
          throw err;
        }
      },
      helloFrame: () => this.helloFrame(),
      checkHello: (hello, expected) => this.checkHello(hello, expected),
      peerHello: (hello) => this.peerHello(hello),
      deliver: (from, envelopes) => this.deliver(from, envelopes),
    };
  }

  /** Starts serving. Resolves with the bound `host:port` (the real port when `listen` used 0). */
  async start(): Promise<{ address: string }> {
    if (this.server !== undefined || this.closing !== undefined) {
      throw new Error('Transport.start: already started or closed');
    }
    const server = new Server(this.serverOptions);
    // Reads decoded Frames, writes encoded frame bytes (the client-side halves complete the
    // definition grpc-js expects; the server does not use them).
    const connect: ServerMethodDefinition<Frame, Buffer> & {
      requestSerialize: (bytes: Buffer) => Buffer;
      responseDeserialize: (bytes: Buffer) => Frame;
    } = {
      path: CONNECT_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: passBytes,
      requestDeserialize: this.ctx.deserialize,
      responseSerialize: passBytes,
      responseDeserialize: this.ctx.deserialize,
      originalName: 'connect',
    };
    const service: ServiceDefinition = { connect };
    server.addService(service, {
      connect: (call: ServerDuplexStream<Frame, Buffer>) => this.onInbound(call),
    });
    this.server = server;
    const listen = this.options.listen;
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(listen, this.serverCredentials, (err, bound) => {
          if (err === null) resolve(bound);
          else reject(new Error(`transport could not listen on ${listen}: ${err.message}`));
        });
      });
    } catch (err) {
      this.server = undefined;
      server.forceShutdown();
      throw err;
    }
    this.raiseInboundWindows(server);
    const colon = listen.lastIndexOf(':');
    const address = `${colon < 0 ? listen : listen.slice(0, colon)}:${port}`;
    this.logger.info(
      {
        node: this.options.nodeId,
        address,
        tls: this.options.tls === undefined ? 'off' : this.options.tls.mutual ? 'mtls' : 'tls',
      },
      'transport listening',
    );
    return { address };
  }

  /**
   * Queues `envelope` for `peer` (dialling it on first use). Throws, queueing nothing:
   * MessageTooLargeError, PeerBackpressureError, PeerRefusedError, InvalidEnvelopeError,
   * TransportClosedError, SendToSelfError. The envelope is encoded now; later changes to the
   * object do not travel.
   */
  send(peer: PeerAddress, envelope: Envelope): void {
    this.outbound(peer).enqueue(envelope);
  }

  /** Like `send` for several envelopes, all or nothing: if it throws, none was queued. */
  sendMany(peer: PeerAddress, envelopes: readonly Envelope[]): void {
    this.outbound(peer).enqueueMany(envelopes);
  }

  /**
   * Envelopes queued for `peerId` and not yet written (0 for an unknown peer): a cheap check
   * for producers that would rather wait than catch PeerBackpressureError.
   */
  queued(peerId: string): number {
    return this.peers.get(peerId)?.queued ?? 0;
  }

  /**
   * The peer left: closes our stream to it and returns the envelopes that were never written
   * to a stream, in send order, for the cluster layer to re-route or fail. Envelopes already
   * written may still arrive. A later `send` to the same id dials afresh. Streams the peer
   * opened to us are left alone; they end when the peer closes them.
   */
  disconnect(peerId: string): Envelope[] {
    const peer = this.peers.get(peerId);
    if (peer === undefined) return [];
    this.peers.delete(peerId);
    const unsent = peer.destroy();
    this.logger.debug({ peer: peerId, unsent: unsent.length }, 'transport disconnected peer');
    return unsent;
  }

  /**
   * Graceful stop: refuses new sends, flushes every peer's queue and waits for the peers to
   * acknowledge the end of our streams (closeTimeoutMs at most), then ends the streams peers
   * opened to us and stops the server. Unflushed envelopes are dropped and counted in a warning.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  stats(): TransportStats {
    const c = this.counters;
    const outbound: Record<string, OutboundPeerStats> = {};
    for (const [id, p] of this.peers) {
      outbound[id] = {
        address: p.address,
        state: p.state,
        queued: p.queued,
        queuedBytes: p.queuedBytes,
        framesSent: p.framesSent,
        envelopesSent: p.envelopesSent,
        bytesSent: p.bytesSent,
        reconnects: p.reconnects,
        ...(p.refusal === undefined ? {} : { refused: p.refusal }),
        ...(p.remote === undefined ? {} : { incarnation: p.remote.incarnation }),
      };
    }
    const inbound: Record<string, InboundPeerStats> = {};
    for (const [id, r] of this.received) {
      inbound[id] = { streams: 0, framesReceived: r.frames, envelopesReceived: r.envelopes };
    }
    for (const s of this.inbound) {
      if (s.nodeId === undefined || s.done) continue;
      const entry = inbound[s.nodeId] ?? { streams: 0, framesReceived: 0, envelopesReceived: 0 };
      inbound[s.nodeId] = { ...entry, streams: entry.streams + 1 };
    }
    return {
      framesSent: c.framesSent,
      envelopesSent: c.envelopesSent,
      bytesSent: c.bytesSent,
      framesReceived: c.framesReceived,
      envelopesReceived: c.envelopesReceived,
      bytesReceived: c.bytesReceived,
      reconnects: c.reconnects,
      streamFailures: c.streamFailures,
      refusals: c.refusals,
      outbound,
      inbound,
    };
  }

  // -------------------------------------------------------------------------------------------

  private outbound(peer: PeerAddress): OutboundPeer {
    if (this.closing !== undefined) throw new TransportClosedError(peer.id);
    let p = this.peers.get(peer.id);
    if (p === undefined) {
      if (peer.id === this.options.nodeId) throw new SendToSelfError(peer.id);
      p = new OutboundPeer(peer.id, peer.address, this.ctx);
      this.peers.set(peer.id, p);
    } else if (p.address !== peer.address) {
      p.setAddress(peer.address);
    }
    return p;
  }

  /**
   * Raises the HTTP/2 receive windows of inbound connections, which carry nearly all our
   * received data. Node's default (64 KiB per stream and per connection) makes the sender wait
   * for a WINDOW_UPDATE every 64 KiB, i.e. for our event loop, so sender and receiver take
   * turns instead of working in parallel: on the reference machine one-way throughput at 1000
   * envelopes per frame went from ~0.9-1.0 M/s to 2.6-3.0 M/s with 1 MiB (gRPC-Java's default).
   *
   * grpc-js 1.14 ignores `grpc-node.flow_control_window` on servers (grpc/grpc-node#3058 adds
   * it), so this reaches into its private `http2Servers` map for the 'session' event. If that
   * map is gone (grpc-js changed), everything still works at the default window, and a warning
   * says so.
   */
  private raiseInboundWindows(server: Server): void {
    const window = this.flowControlWindow;
    // Private grpc-js field; checked at run time below.
    const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
      this.logger.warn(
        { window },
        'cannot raise the inbound HTTP/2 window (grpc-js internals changed); receiving will be slower',
      );
      return;
    }
    for (const h2 of http2Servers.keys() as IterableIterator<Http2Server>) {
      h2.on('session', (session: ServerHttp2Session) => {
        try {
          session.setLocalWindowSize(window);
          session.settings({ initialWindowSize: window });
        } catch (err) {
          this.logger.debug({ err }, 'could not raise the HTTP/2 window of a session');
        }
      });
    }
  }

  private helloFrame(): Buffer {
    return encodeHelloFrame({
      nodeId: this.options.nodeId,
      incarnation: this.options.incarnation,
      epoch: this.options.epoch(),
      protocolVersion: PROTOCOL_VERSION,
      placementHashVersion: HASH_VERSION,
    });
  }

  private checkHello(hello: Hello | undefined, expectedNodeId?: string): string | undefined {
    const us = this.options.nodeId;
    if (hello === undefined) return `${us}: the first frame carried no Hello`;
    const them = hello.nodeId || '(no node id)';
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      return `${them} speaks protocol version ${hello.protocolVersion}, ${us} speaks ${PROTOCOL_VERSION}`;
    }
    if (hello.placementHashVersion !== HASH_VERSION) {
      return `${them} uses placement hash version ${hello.placementHashVersion}, ${us} uses ${HASH_VERSION}`;
    }
    if (hello.nodeId.length === 0) return `${us}: the peer's Hello carries no node id`;
    if (hello.nodeId === us) return `${us}: the peer claims our own node id`;
    if (expectedNodeId !== undefined && hello.nodeId !== expectedNodeId) {
      return `expected node ${expectedNodeId} but ${hello.nodeId} answered`;
    }
    return undefined;
  }

  private peerHello(hello: Hello): void {
    const callback = this.handler.onPeerHello;
    if (callback === undefined) return;
    try {
      callback.call(this.handler, {
        nodeId: hello.nodeId,
        incarnation: hello.incarnation,
        epoch: hello.epoch,
      });
    } catch (err) {
      this.logger.error({ peer: hello.nodeId, err }, 'onPeerHello handler threw');
    }
  }

  private deliver(fromNode: string, envelopes: Envelope[]): void {
    const n = envelopes.length;
    this.counters.envelopesReceived += n;
    let r = this.received.get(fromNode);
    if (r === undefined) {
      r = { frames: 0, envelopes: 0 };
      this.received.set(fromNode, r);
    }
    r.frames++;
    r.envelopes += n;
    try {
      this.handler.onEnvelopes(fromNode, envelopes);
    } catch (err) {
      this.rateLimited.warn(
        `onEnvelopes:${fromNode}`,
        { peer: fromNode, envelopes: n, err },
        'onEnvelopes handler threw; the stream carries on',
      );
    }
  }

  private onInbound(call: ServerDuplexStream<Frame, Buffer>): void {
    const s: InboundStream = { call, nodeId: undefined, done: false, timer: undefined };
    // Listeners first: grpc-js turns an unhandled 'error' into a crash.
    call.on('error', (err: Error) => {
      this.logger.debug({ peer: s.nodeId, remote: call.getPeer(), err }, 'inbound stream error');
    });
    if (this.closing !== undefined) {
      this.endWithError(call, status.UNAVAILABLE, `${this.options.nodeId} is shutting down`);
      return;
    }
    this.inbound.add(s);
    const forget = (): void => {
      s.done = true;
      clearTimeout(s.timer);
      this.inbound.delete(s);
    };
    call.on('close', forget);
    call.on('finish', forget);
    call.on('cancelled', forget);
    // The peer half-closed (its graceful close): it has sent everything; end our side.
    call.on('end', () => {
      if (!call.writableEnded) call.end();
    });
    call.on('data', (frame: Frame) => this.onInboundFrame(s, frame));
    s.timer = setTimeout(() => {
      if (s.nodeId === undefined && !s.done) {
        this.refuseInbound(s, undefined, status.DEADLINE_EXCEEDED, 'no Hello in time');
      }
    }, this.config.handshakeTimeoutMs);
    s.timer.unref();
  }

  private onInboundFrame(s: InboundStream, frame: Frame): void {
    if (s.done) return;
    this.counters.framesReceived++;
    if (s.nodeId === undefined) {
      const problem = this.checkHello(frame.hello);
      if (problem !== undefined) {
        this.refuseInbound(s, frame.hello?.nodeId, status.FAILED_PRECONDITION, problem);
        return;
      }
      const hello = frame.hello!;
      s.nodeId = hello.nodeId;
      clearTimeout(s.timer);
      s.timer = undefined;
      for (const other of this.inbound) {
        if (other !== s && other.nodeId === s.nodeId && !other.done) {
          // The peer only ever has one outbound stream to us: an older one is dead on its side.
          other.done = true;
          if (!other.call.writableEnded) other.call.end();
        }
      }
      s.call.write(this.helloFrame());
      this.logger.debug(
        { peer: hello.nodeId, incarnation: hello.incarnation, remote: s.call.getPeer() },
        'inbound stream from peer open',
      );
      this.peerHello(hello);
    }
    if (frame.envelopes.length > 0) this.deliver(s.nodeId, frame.envelopes);
  }

  private refuseInbound(
    s: InboundStream,
    claimedNodeId: string | undefined,
    code: status,
    reason: string,
  ): void {
    s.done = true;
    clearTimeout(s.timer);
    this.counters.refusals++;
    this.logger.error(
      { peer: claimedNodeId, remote: s.call.getPeer(), reason },
      'refused inbound stream',
    );
    this.endWithError(s.call, code, `${this.options.nodeId} refused the stream: ${reason}`);
  }

  private endWithError(
    call: ServerDuplexStream<Frame, Buffer>,
    code: status,
    details: string,
  ): void {
    // grpc-js turns an emitted error into the call's status (and ends the call).
    const err: ServerErrorResponse = Object.assign(new Error(details), { code, details });
    call.emit('error', err);
  }

  private async shutdown(): Promise<void> {
    const deadline = Date.now() + this.closeTimeoutMs;
    const peers = [...this.peers.values()];
    this.peers.clear();
    const dropped = await Promise.all(peers.map((p) => p.closeGracefully(deadline)));
    const lost: Record<string, number> = {};
    let total = 0;
    peers.forEach((p, i) => {
      const n = dropped[i]!;
      if (n > 0) lost[p.id] = n;
      total += n;
    });
    if (total > 0) {
      this.logger.warn(
        { dropped: total, perPeer: lost, closeTimeoutMs: this.closeTimeoutMs },
        'transport closed with unsent envelopes',
      );
    }
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const s of this.inbound) {
      s.done = true;
      clearTimeout(s.timer);
      if (!s.call.writableEnded) s.call.end();
    }
    await new Promise<void>((resolve) => {
      const force = setTimeout(
        () => {
          server.forceShutdown();
          resolve();
        },
        Math.max(100, deadline - Date.now()),
      );
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.inbound.clear();
    this.logger.info(this.counters, 'transport closed');
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value > 0)) {
    throw new TypeError(`TransportOptions.${name} must be a positive integer, got ${value}`);
  }
  return value;
}
