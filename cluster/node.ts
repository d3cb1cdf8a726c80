import type { Registry } from 'prom-client';
import type { Envelope } from '../proto/generated/gito/cluster/v1/cluster.ts';
import { ErrorCode } from '../proto/generated/gito/cluster/v1/cluster.ts';
import {
  type ActorId,
  ActorSystem,
  type ActorSystemOptions,
  type Logger,
  type Message,
  type ReplyHandle,
  type Router,
} from '../runtime/index.ts';
import { RateLimitedLog } from '../runtime/logger.ts';
import {
  decodeMessage,
  decodeReply,
  encodeMessage,
  encodeReply,
  errorFromWire,
  errorToWire,
  HopLimitError,
  RemoteActorError,
} from './codec.ts';
import { HandoffState } from './handoff.ts';
import type { Member, MembershipProvider, Topology } from './membership/types.ts';
import { ClusterStats, registerClusterMetrics } from './metrics.ts';
import { type Colocation, PlacementTable } from './placement/index.ts';
import { RemoteAsks } from './remote-asks.ts';
import type { TransportHandler } from './transport/types.ts';

/** What the node needs from its transport (cluster/transport implements it over gRPC). */
export interface NodeTransport {
  start(): Promise<{ address: string }>;
  send(peer: { id: string; address: string }, envelope: Envelope): void;
  /** The peer left: close its stream; returns envelopes that were never written. */
  disconnect(peerId: string): Envelope[];
  close(): Promise<void>;
}

export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly incarnation?: number;
  /** Address other nodes dial; defaults to the transport's listen address. */
  readonly advertiseAddress?: string;
  /** false: join as a gateway that routes to the members and hosts no actor. Default true. */
  readonly hostsActors?: boolean;
  readonly membership: MembershipProvider;
  /** Builds the transport with this node as its handler (so the node can receive). */
  readonly transport: (handler: TransportHandler) => NodeTransport;
  readonly system?: Omit<ActorSystemOptions, 'router' | 'nodeId' | 'epoch'>;
  readonly colocation?: Colocation;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Forwarding hops before a message fails with HOP_LIMIT. */
  readonly maxHops?: number;
  /** Messages that may be held (handoff, behind-topology) before senders are refused. */
  readonly maxHeld?: number;
  /** After a planned leave, how long to keep forwarding what still arrives before closing. */
  readonly leaveLingerMs?: number;
}

/** An ask whose peer left the cluster before replying. */
export class PeerLostError extends RemoteActorError {
  override readonly name = 'PeerLostError';
  constructor(peer: string) {
    super(ErrorCode.ERROR_CODE_INTERNAL, 'PeerLostError', `node ${peer} left before replying`);
  }
}

type Held = [target: ActorId, message: Message, reply: ReplyHandle | undefined];

const RETRY_HANDOFF_MS = 1_000;
const BEHIND_HOLD_MS = 5_000;
/** How long asks to a departed node may still be answered (by whoever it forwarded them to). */
const PEER_LOST_GRACE_MS = 2_000;

/**
 * One member of a Gito cluster: an ActorSystem whose Router places identities by rendezvous
 * hashing over the live members, moves activations on topology changes with the handoff protocol
 * of docs/cluster.md, and carries messages to other nodes over the transport.
 */
export class ClusterNode implements Router, TransportHandler {
  readonly system: ActorSystem;
  readonly nodeId: string;
  readonly stats = new ClusterStats();
  private readonly incarnation: number;
  private readonly membership: MembershipProvider;
  private readonly transport: NodeTransport;
  private readonly logger: Logger;
  private readonly warn: RateLimitedLog;
  private readonly asks = new RemoteAsks();
  private readonly maxHops: number;
  private readonly maxHeld: number;
  private table: PlacementTable;
  private members = new Map<string, Member>();
  private handoff: HandoffState;
  private epoch = 0;
  /** Identity -> messages waiting for the handoff to settle. */
  private held = new Map<ActorId, Held[]>();
  /** Messages stamped with an epoch newer than ours, waiting for our topology to catch up. */
  private behind: Array<{ item: Held; hops: number; since: number }> = [];
  private heldCount = 0;
  /** False before joining and after losing the lease: then nothing is hosted here. */
  private hosting = false;
  private lastConfirmedEpoch = 0;
  private handoffStartedAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: Array<() => void> = [];
  private stopped = false;
  /** Planned leave in progress: resident actors finish, nothing new is activated here. */
  private leaving = false;
  private leftTopology: (() => void) | undefined;
  /** false: a gateway member that routes to the others and hosts nothing. */
  private readonly hostsActors: boolean;

  constructor(private readonly options: ClusterNodeOptions) {
    this.nodeId = options.nodeId;
    this.incarnation = options.incarnation ?? Date.now();
    this.membership = options.membership;
    this.logger = options.logger;
    this.warn = new RateLimitedLog(options.logger);
    this.maxHops = options.maxHops ?? 4;
    this.maxHeld = options.maxHeld ?? 1_000_000;
    const colocation = options.colocation === undefined ? {} : { colocation: options.colocation };
    this.hostsActors = options.hostsActors ?? true;
    this.table = new PlacementTable(this.hostsActors ? [this.nodeId] : [NO_HOSTS], colocation);
    this.handoff = new HandoffState(this.nodeId, this.table, 0, []);
    this.system = new ActorSystem({
      ...options.system,
      nodeId: this.nodeId,
      logger: options.logger,
      registry: options.registry,
      router: this,
      epoch: 0,
    });
    this.transport = options.transport(this);
    registerClusterMetrics(options.registry, this.stats);
  }

  /** Starts the transport, joins the membership and begins hosting once the handoff settles. */
  async start(): Promise<{ address: string; topology: Topology }> {
    const { address } = await this.transport.start();
    const self: Member = {
      id: this.nodeId,
      address: this.options.advertiseAddress ?? address,
      incarnation: this.incarnation,
      ...(this.hostsActors ? {} : { hosts: false }),
    };
    this.unsubscribe.push(this.membership.onChange((t) => this.applyTopology(t)));
    this.unsubscribe.push(this.membership.onLeaseLost(() => void this.leaseLost()));
    const topology = await this.membership.join(self);
    this.applyTopology(topology);
    this.retryTimer = setInterval(() => this.retryHandoff(), RETRY_HANDOFF_MS);
    this.retryTimer.unref();
    return { address: self.address, topology };
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get settled(): boolean {
    return this.hosting && this.handoff.settled;
  }

  ownerOf(id: ActorId): string {
    return this.table.ownerOf(id);
  }

  topology(): Topology {
    return { epoch: this.epoch, members: [...this.members.values()] };
  }

  // ---- Router --------------------------------------------------------------------------------

  isLocal(id: ActorId): boolean {
    if (this.leaving) return this.system.isActive(id);
    if (this.ownerOfCached(id) === this.nodeId) {
      return this.hosting && (this.handoff.settled || !this.handoff.isPending(id));
    }
    // Moving away: still resident here until passivated; its queue is forwarded after the save.
    return this.system.isActive(id);
  }

  /**
   * The runtime asks isLocal and then, for a remote target, forward: both need the owner of the
   * same identity, and hashing it is the main cost of routing, so the last answer is kept.
   */
  private ownerOfCached(id: ActorId): string {
    if (id === this.lastRoutedId && this.table === this.lastRoutedTable)
      return this.lastRoutedOwner;
    const owner = this.table.ownerOf(id);
    this.lastRoutedId = id;
    this.lastRoutedOwner = owner;
    this.lastRoutedTable = this.table;
    return owner;
  }

  private lastRoutedId: ActorId = '';
  private lastRoutedOwner = '';
  private lastRoutedTable: PlacementTable | undefined;

  forward(id: ActorId, message: Message, reply: ReplyHandle | undefined): void {
    const owner = this.ownerOfCached(id);
    if (owner === this.nodeId) {
      this.hold(id, message, reply);
      return;
    }
    this.sendRemote(owner, id, message, reply, 0);
  }

  // ---- sending -------------------------------------------------------------------------------

  private sendRemote(
    owner: string,
    target: ActorId,
    message: Message,
    reply: ReplyHandle | undefined,
    hops: number,
  ): void {
    const peer = this.members.get(owner);
    if (peer === undefined) throw new Error(`no address for node ${owner} (target ${target})`);
    const bytes = encodeMessage(message);
    if (reply === undefined) {
      this.transport.send(peer, {
        tell: { target, message: bytes, senderNode: this.nodeId, hops, epoch: this.epoch },
      });
      this.stats.remoteSent++;
      return;
    }
    this.stats.remoteSent++;
    if (reply instanceof RemoteReply) {
      // Forwarding someone else's ask: keep its origin and correlation so the owner answers the
      // asker directly instead of through us.
      this.transport.send(peer, {
        ask: {
          target,
          message: bytes,
          senderNode: reply.origin,
          hops,
          epoch: this.epoch,
          correlationId: reply.correlationId,
          deadlineUnixMs: reply.deadline,
        },
      });
      return;
    }
    const correlationId = this.asks.register(reply, owner);
    try {
      this.transport.send(peer, {
        ask: {
          target,
          message: bytes,
          senderNode: this.nodeId,
          hops,
          epoch: this.epoch,
          correlationId,
          deadlineUnixMs: reply.deadline,
        },
      });
    } catch (err) {
      this.asks.take(correlationId);
      throw err;
    }
  }

  private sendToPeer(nodeId: string, envelope: Envelope): void {
    const peer = this.members.get(nodeId);
    if (peer === undefined) {
      this.warn.warn(
        'no-peer',
        { peer: nodeId },
        'reply or control message for a node that left; dropped',
      );
      return;
    }
    try {
      this.transport.send(peer, envelope);
    } catch (err) {
      this.warn.warn('send-failed', { peer: nodeId, err: String(err) }, 'could not send to peer');
    }
  }

  // ---- receiving -----------------------------------------------------------------------------

  onEnvelopes(fromNode: string, envelopes: readonly Envelope[]): void {
    for (const envelope of envelopes) {
      try {
        this.receive(fromNode, envelope);
      } catch (err) {
        this.stats.undeliverable++;
        this.warn.warn('receive', { from: fromNode, err: String(err) }, 'bad envelope from peer');
      }
    }
  }

  onPeerHello(peer: { nodeId: string; incarnation: number; epoch: number }): void {
    // A peer that reconnected may have missed our confirmation (in-flight frames can be lost).
    if (this.lastConfirmedEpoch > 0) this.sendHandoffComplete(peer.nodeId, this.lastConfirmedEpoch);
    if (!this.handoff.settled) {
      this.sendToPeer(peer.nodeId, { handoffRequest: { epoch: this.epoch, identities: [] } });
    }
  }

  private receive(from: string, e: Envelope): void {
    if (e.tell !== undefined) {
      this.stats.remoteReceived++;
      const t = e.tell;
      this.route([t.target, decodeMessage(t.message), undefined], t.hops, t.epoch);
    } else if (e.ask !== undefined) {
      this.stats.remoteReceived++;
      const a = e.ask;
      const reply = new RemoteReply(this, a.senderNode, a.correlationId, a.deadlineUnixMs);
      let message: Message;
      try {
        message = decodeMessage(a.message);
      } catch (err) {
        reply.reject(err);
        return;
      }
      this.route([a.target, message, reply], a.hops, a.epoch);
    } else if (e.reply !== undefined) {
      this.asks.take(e.reply.correlationId)?.resolve(decodeReply(e.reply.payload));
    } else if (e.error !== undefined) {
      const handle = this.asks.take(e.error.correlationId);
      handle?.reject(errorFromWire('?', e.error));
    } else if (e.handoffComplete !== undefined) {
      if (this.handoff.confirm(from, e.handoffComplete.epoch)) this.settledNow();
    } else if (e.handoffRequest !== undefined) {
      if (this.lastConfirmedEpoch >= e.handoffRequest.epoch && this.lastConfirmedEpoch > 0) {
        this.sendHandoffComplete(from, this.lastConfirmedEpoch);
      }
    } else if (e.ping !== undefined) {
      this.sendToPeer(from, { pong: { nonce: e.ping.nonce, sentUnixMs: e.ping.sentUnixMs } });
    }
  }

  /** Delivers a message that came from another node, forwarding it if we are not the owner. */
  private route(item: Held, hops: number, senderEpoch: number): void {
    const [target, message, reply] = item;
    if (senderEpoch > this.epoch || (!this.hosting && !this.leaving)) {
      this.holdBehind(item, hops);
      return;
    }
    const owner = this.table.ownerOf(target);
    if (owner !== this.nodeId && !this.system.isActive(target)) {
      if (hops + 1 > this.maxHops) {
        this.stats.hopLimited++;
        this.fail(item, new HopLimitError(target, hops));
        return;
      }
      this.stats.forwarded++;
      try {
        this.sendRemote(owner, target, message, reply, hops + 1);
      } catch (err) {
        this.fail(item, err);
      }
      return;
    }
    try {
      this.system.send(target, message, reply);
    } catch (err) {
      this.fail(item, err);
    }
  }

  private fail([target, message, reply]: Held, err: unknown): void {
    if (reply !== undefined) {
      reply.reject(err);
      return;
    }
    this.stats.undeliverable++;
    this.warn.warn(
      'undeliverable',
      { target, messageType: message.type, err: err instanceof Error ? err.message : String(err) },
      'remote tell could not be delivered',
    );
  }

  // ---- holding -------------------------------------------------------------------------------

  private hold(id: ActorId, message: Message, reply: ReplyHandle | undefined): void {
    if (this.heldCount >= this.maxHeld) {
      throw new Error(
        `node ${this.nodeId} holds ${this.heldCount} messages during a handoff; refused`,
      );
    }
    let queue = this.held.get(id);
    if (queue === undefined) {
      queue = [];
      this.held.set(id, queue);
    }
    queue.push([id, message, reply]);
    this.heldCount++;
    this.stats.held = this.heldCount;
  }

  private holdBehind(item: Held, hops: number): void {
    this.behind.push({ item, hops, since: Date.now() });
    void this.membership.refresh().catch(() => undefined);
  }

  /** Re-routes everything held, in arrival order, with the current topology. */
  private releaseHeld(): void {
    if (this.held.size > 0) {
      const held = this.held;
      this.held = new Map();
      this.heldCount = 0;
      for (const queue of held.values()) {
        for (const item of queue) {
          try {
            this.system.send(item[0], item[1], item[2]);
          } catch (err) {
            this.fail(item, err);
          }
        }
      }
      this.stats.held = this.heldCount;
    }
    this.releaseBehind(false);
  }

  private releaseBehind(expiredOnly: boolean): void {
    if (this.behind.length === 0) return;
    const now = Date.now();
    const keep: typeof this.behind = [];
    const go: typeof this.behind = [];
    for (const entry of this.behind) {
      if (!this.hosting || (expiredOnly && now - entry.since < BEHIND_HOLD_MS)) keep.push(entry);
      else go.push(entry);
    }
    this.behind = keep;
    for (const { item, hops } of go) this.route(item, hops, 0);
  }

  // ---- topology and handoff ------------------------------------------------------------------

  private applyTopology(topology: Topology): void {
    if (this.stopped || topology.epoch <= this.epoch) return;
    const includesSelf = topology.members.some((m) => m.id === this.nodeId);
    const previous = this.members;
    this.members = new Map(topology.members.map((m) => [m.id, m]));
    this.epoch = topology.epoch;
    this.system.epoch = topology.epoch;
    this.stats.epoch = topology.epoch;
    this.stats.members = topology.members.length;
    this.stats.rebalances++;
    if (!includesSelf && this.leaving) {
      // Our own planned leave: route whatever still reaches us to the remaining members.
      if (topology.members.length > 0) {
        this.table = this.table.withMembers(placementIds(topology));
      }
      this.leftTopology?.();
      return;
    }
    if (!includesSelf) {
      // We were reaped (lease lost) and have not re-registered yet: host nothing.
      this.logger.warn({ epoch: topology.epoch }, 'this node is not in the topology; not hosting');
      this.hosting = false;
      void this.passivateAll('not a member');
      return;
    }
    this.table = this.table.withMembers(placementIds(topology));
    const peers = topology.members.filter((m) => m.id !== this.nodeId).map((m) => m.id);
    this.handoffStartedAt = Date.now();
    const settled = this.hosting
      ? this.handoff.advance(topology.epoch, this.table, peers)
      : this.handoff.reset(topology.epoch, this.table, peers);
    this.hosting = true;
    for (const id of previous.keys()) {
      if (!this.members.has(id) && id !== this.nodeId) this.peerLeft(id);
    }
    this.logger.info(
      {
        epoch: topology.epoch,
        members: topology.members.map((m) => m.id),
        waitingFor: this.handoff.waitingFor(),
      },
      'topology changed',
    );
    void this.rebalance(topology.epoch);
    if (settled || this.handoff.settled) this.settledNow();
    else this.releaseBehind(false);
  }

  private peerLeft(peerId: string): void {
    const unsent = this.transport.disconnect(peerId);
    for (const e of unsent) {
      if (e.tell !== undefined)
        this.route([e.tell.target, decodeMessage(e.tell.message), undefined], e.tell.hops, 0);
      else if (e.ask !== undefined) {
        const handle = this.asks.take(e.ask.correlationId);
        if (handle !== undefined)
          this.route([e.ask.target, decodeMessage(e.ask.message), handle], e.ask.hops, 0);
      }
    }
    this.asks.failPeerAfter(peerId, PEER_LOST_GRACE_MS, () => new PeerLostError(peerId));
  }

  /** Passivates what we no longer own, then tells every peer we are done with this epoch. */
  private async rebalance(epoch: number): Promise<void> {
    const table = this.table;
    const moved = await this.system.deactivateWhere((id) => table.ownerOf(id) !== this.nodeId);
    this.stats.passivatedForRebalance += moved;
    if (this.epoch !== epoch || this.stopped) return;
    this.lastConfirmedEpoch = epoch;
    for (const peer of this.members.keys()) {
      if (peer !== this.nodeId) this.sendHandoffComplete(peer, epoch);
    }
    if (moved > 0) this.logger.info({ epoch, moved }, 'handed off identities');
  }

  private sendHandoffComplete(peer: string, epoch: number): void {
    this.sendToPeer(peer, { handoffComplete: { epoch, identities: [], all: true } });
  }

  private settledNow(): void {
    this.stats.handoffWaitMs = Date.now() - this.handoffStartedAt;
    this.logger.info({ epoch: this.epoch, waitedMs: this.stats.handoffWaitMs }, 'handoff settled');
    this.releaseHeld();
    void this.system.pollReminders();
  }

  private retryHandoff(): void {
    this.releaseBehind(true);
    if (this.handoff.settled || !this.hosting) return;
    for (const peer of this.handoff.waitingFor()) {
      this.sendToPeer(peer, { handoffRequest: { epoch: this.epoch, identities: [] } });
    }
  }

  private async passivateAll(reason: string): Promise<void> {
    const n = await this.system.deactivateWhere(() => true);
    if (n > 0) this.logger.warn({ reason, passivated: n }, 'stopped hosting actors');
  }

  private async leaseLost(): Promise<void> {
    this.logger.error({ epoch: this.epoch }, 'membership lease lost: stop hosting until re-joined');
    this.hosting = false;
    await this.passivateAll('lease lost');
  }

  // ---- leaving -------------------------------------------------------------------------------

  /**
   * Planned leave (SIGTERM): activate nothing new (messages for our identities are held),
   * passivate and save everything, leave the membership, then forward what was held to the new
   * owners. Others take over without waiting for our lease to expire.
   */
  async leave(): Promise<void> {
    if (this.stopped || this.leaving) return;
    this.leaving = true;
    const passivated = await this.system.deactivateWhere(() => true);
    // Forward what we held only once we know the epoch without us: stamped with it, our forwards
    // are held by any peer that has not seen that epoch yet instead of being routed back to us.
    const left = new Promise<void>((resolve) => {
      this.leftTopology = resolve;
    });
    try {
      await this.membership.leave();
      await Promise.race([left, new Promise((r) => setTimeout(r, 2_000))]);
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'leaving the membership failed; others will reap us');
    }
    this.stopped = true;
    const remaining = [...this.members.values()]
      .filter((m) => m.id !== this.nodeId && m.hosts !== false)
      .map((m) => m.id);
    let forwarded = 0;
    if (remaining.length > 0) {
      this.table = this.table.withMembers(remaining);
      const held = [...this.held.values()].flat();
      this.held.clear();
      this.heldCount = 0;
      for (const item of [...held, ...this.behind.map((b) => b.item)]) {
        try {
          this.sendRemote(this.table.ownerOf(item[0]), item[0], item[1], item[2], 0);
          forwarded++;
        } catch (err) {
          this.fail(item, err);
        }
      }
      this.behind = [];
    }
    this.logger.info({ passivated, forwarded }, 'left the cluster');
    // Peers learn the new topology within moments; until then frames may still reach us, and we
    // forward them rather than let them die with the transport.
    await new Promise((resolve) => setTimeout(resolve, this.options.leaveLingerMs ?? 1_000));
    await this.close();
    await this.system.shutdown();
  }

  /** Stops without leaving (tests use this to simulate a crash of everything but the process). */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer);
    for (const u of this.unsubscribe) u();
    this.asks.close();
    await this.membership.close().catch(() => undefined);
    await this.transport.close();
  }

  /** Used by RemoteReply. */
  replyTo(node: string, envelope: Envelope): void {
    // An ask of ours that another node forwarded back to us: answer it without the network.
    if (node === this.nodeId) this.receive(node, envelope);
    else this.sendToPeer(node, envelope);
  }
}

/** The reply handle for an ask that came over the wire: answers go back to the asking node. */
class RemoteReply implements ReplyHandle {
  private done = false;
  constructor(
    private readonly node: ClusterNode,
    readonly origin: string,
    readonly correlationId: number,
    readonly deadline: number,
  ) {}

  resolve(value: unknown): void {
    if (this.done) return;
    this.done = true;
    let payload: Buffer;
    try {
      payload = encodeReply(value);
    } catch (err) {
      this.done = false;
      this.reject(new Error(`reply is not serializable: ${String(err)}`));
      return;
    }
    this.node.replyTo(this.origin, { reply: { correlationId: this.correlationId, payload } });
  }

  reject(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.node.replyTo(this.origin, {
      error: { correlationId: this.correlationId, ...errorToWire(error) },
    });
  }
}

/**
 * Placement's stand-in owner while no member hosts actors (only gateways are up): routing to it
 * fails with "no address for node ...", naming the reason.
 */
const NO_HOSTS = '(no node hosting actors)';

/** The members placement may pick: every member but those that host nothing (gateways). */
function placementIds(topology: Topology): string[] {
  const ids = topology.members.filter((m) => m.hosts !== false).map((m) => m.id);
  return ids.length > 0 ? ids : [NO_HOSTS];
}
