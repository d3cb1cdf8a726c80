import type { Envelope } from '../../proto/generated/gito/cluster/v1/cluster.ts';

export type { Envelope };

/** What the cluster layer does with what arrives. */
export interface TransportHandler {
  /** A batch of envelopes arrived from peer `fromNode` (in the order it sent them). */
  onEnvelopes(fromNode: string, envelopes: readonly Envelope[]): void;
  /** A peer (re)connected and introduced itself; `epoch` is its topology epoch at that time. */
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
}

export interface TransportOptions {
  readonly nodeId: string;
  readonly incarnation: number;
  /** host:port to listen on; port 0 picks a free port. */
  readonly listen: string;
  /** Largest frame in bytes (gRPC max message length both ways). Default 4 MiB. */
  readonly maxFrameBytes?: number;
  /** Envelopes per frame before a flush (besides the flush on the next tick). Default 1000. */
  readonly maxBatch?: number;
  /** Envelopes that may wait for one peer (unsent or blocked by backpressure). Default 100,000. */
  readonly maxQueuedPerPeer?: number;
  readonly tls?: TlsOptions;
  /** Current topology epoch, sent in Hello. */
  readonly epoch: () => number;
}
