/** One node as the cluster knows it. */
export interface Member {
  readonly id: string;
  /** host:port where the node's gRPC transport listens (advertised address). */
  readonly address: string;
  /** Start time of this process (ms since epoch): a restarted node has a new incarnation. */
  readonly incarnation: number;
  /**
   * false for a member that hosts no actors (a `gito gateway`): it routes to the others and takes
   * part in handoff rounds, but placement never picks it. Absent means true.
   */
  readonly hosts?: boolean;
}

/** The live members at one topology epoch. Epochs only increase. */
export interface Topology {
  readonly epoch: number;
  /** Sorted by id. */
  readonly members: readonly Member[];
}

/**
 * Who is in the cluster. Implementations: Redis (cluster mode) and in-memory (one node).
 *
 * Guarantees a node can rely on:
 * - every change of membership increases the epoch, and listeners see epochs in increasing order;
 * - a member is removed only after its lease expired (it missed heartbeats for the configured
 *   number of intervals) or it left on purpose;
 * - `onLeaseLost` fires on a node that could not renew its own lease before it ran out, *before*
 *   any other node may consider it dead (the node self-fences on its own clock with a margin).
 */
export interface MembershipProvider {
  /** Registers this node and starts heartbeats; resolves with a topology that includes it. */
  join(self: Member): Promise<Topology>;
  /** The last topology this node knows (kept through Redis outages). */
  current(): Topology;
  /** Called with each new topology, in epoch order. Returns an unsubscribe function. */
  onChange(listener: (topology: Topology) => void): () => void;
  /** Called when this node lost its lease: it must stop hosting actors at once. */
  onLeaseLost(listener: () => void): () => void;
  /** Reads the topology from the source now (fallback to pub/sub; also used by tests). */
  refresh(): Promise<Topology>;
  /** Planned leave: removes this node (epoch increases) and stops heartbeats. */
  leave(): Promise<void>;
  /** Stops heartbeats and closes connections without leaving (a crash, as far as others know). */
  close(): Promise<void>;
}
