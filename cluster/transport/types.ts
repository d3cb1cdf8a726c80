import type { Envelope } from '../../proto/generated/gito/cluster/v1/cluster.ts';

export type { Envelope };

/** What the cluster layer does with what arrives. */
export interface TransportHandler {
  /**
   * A batch of envelopes arrived from peer `fromNode` (in the order it sent them). Called
   * synchronously from the stream's data event; the array and envelopes belong to the handler.
   * A handler that throws is logged and the stream carries on.
   */
  onEnvelopes(fromNode: string, envelopes: readonly Envelope[]): void;
  /**
   * A peer (re)connected and introduced itself; `epoch` is its topology epoch at that time.
   * Called for both directions: when a peer's inbound stream opens and when our outbound stream
   * to it is accepted, so once or twice per (re)connection. A new `incarnation` for a known
   * node id means the peer restarted.
   */
  onPeerHello?(peer: { nodeId: string; incarnation: number; epoch: number }): void;
}

export interface TlsOptions {
  /** PEM: this node's certificate chain and key (server and client side). */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** PEM CA bundle that peers' certificates must chain to. */
  readonly ca: Buffer;
  /** Require and verify client certificates (mTLS). */
  readonly mutual: boolean;
  /**
   * (Added.) Name to verify in peers' server certificates instead of the host of their address
   * (gRPC's `grpc.ssl_target_name_override`), for certificates issued to a DNS name while
   * nodes advertise IP addresses. Default: the address's host must be in the certificate.
   */
  readonly serverName?: string;
}

export interface TransportOptions {
  readonly nodeId: string;
  readonly incarnation: number;
  /** host:port to listen on; port 0 picks a free port. */
  readonly listen: string;
  /**
   * Largest frame in bytes (gRPC max message length both ways). Default 4 MiB. Every node of a
   * cluster must use the same value: a receiver refuses (and breaks the stream on) a larger one.
   */
  readonly maxFrameBytes?: number;
  /** Envelopes per frame before a flush (besides the flush on the next tick). Default 1000. */
  readonly maxBatch?: number;
  /** Envelopes that may wait for one peer (unsent or blocked by backpressure). Default 100,000. */
  readonly maxQueuedPerPeer?: number;
  /** (Added.) Encoded bytes that may wait for one peer. Default 64 MiB. */
  readonly maxQueuedBytesPerPeer?: number;
  readonly tls?: TlsOptions;
  /** Current topology epoch, sent in Hello. */
  readonly epoch: () => number;
  /** (Added.) First reconnect delay after a stream fails; doubles per attempt. Default 50 ms. */
  readonly reconnectMinMs?: number;
  /** (Added.) Largest reconnect delay (also used after a refused handshake). Default 5000 ms. */
  readonly reconnectMaxMs?: number;
  /**
   * (Added.) HTTP/2 keepalive ping interval on every connection, both ways, so that a peer that
   * vanished without closing its socket (host down, partition) is noticed. Default 10,000 ms.
   */
  readonly keepaliveMs?: number;
  /** (Added.) A keepalive ping unanswered this long drops the connection. Default 5000 ms. */
  readonly keepaliveTimeoutMs?: number;
  /** (Added.) Time for the peer's Hello to arrive on a new stream. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /**
   * (Added.) HTTP/2 receive window (per stream and per connection) this node grants peers.
   * Bounds what a peer may have in flight towards us beyond its queue. Default 1 MiB.
   */
  readonly flowControlWindowBytes?: number;
  /** (Added.) `close()` flushes queued envelopes for at most this long. Default 2000 ms. */
  readonly closeTimeoutMs?: number;
}
