import { type Logger, stderrLogger } from '../../runtime/logger.ts';
import { TopologyFeed } from './feed.ts';
import type { Member, MembershipProvider, Topology } from './types.ts';
import { copyMember, makeTopology, nextEpoch, validateMember } from './validate.ts';

/**
 * The shared state of an in-process cluster: one per process for the embedded default (each
 * InMemoryMembership makes its own when none is given), or one shared by several providers in
 * one process for tests.
 *
 * Epochs follow the same rule as the Redis provider: max(previous + 1, now in ms). The
 * wall-clock floor matters even for one node: actor state in PostgreSQL keeps the highest epoch
 * as a fencing token across process restarts, so a restarted embedded process must not start
 * again at epoch 1.
 */
export class InMemoryRegistry {
  private epoch = 0;
  private readonly members = new Map<string, Member>();
  private readonly nodes = new Map<string, InMemoryMembership>();
  private readonly observers = new Set<InMemoryMembership>();

  constructor(private readonly now: () => number = Date.now) {}

  topology(): Topology {
    return makeTopology(this.epoch, this.members.values());
  }

  /**
   * Simulates a node whose lease ran out (it was cut off): its provider fires onLeaseLost
   * first, then the member is removed (epoch + 1) and every other provider sees the removal.
   * The fenced provider receives no topology until `rejoin(id)`.
   */
  expire(id: string): void {
    if (!this.members.has(id)) return;
    this.nodes.get(id)?.fence();
    this.members.delete(id);
    this.nodes.delete(id);
    this.epoch = nextEpoch(this.epoch, 0, this.now());
    this.publish();
  }

  /**
   * Re-admits a node fenced by `expire(id)` with the same Member (a new epoch), as the Redis
   * provider does on its own once Redis is reachable again. Its next onChange is this topology.
   */
  rejoin(id: string): void {
    for (const node of this.observers) {
      const self = node.fencedSelf();
      const holder = this.members.get(id);
      if (self?.id === id && (holder === undefined || holder.incarnation <= self.incarnation)) {
        this.admit(self, node);
        node.unfence();
        this.publish();
        return;
      }
    }
    throw new Error(`no fenced in-memory member with id ${JSON.stringify(id)}`);
  }

  /** @internal */
  attach(node: InMemoryMembership): void {
    this.observers.add(node);
  }

  /** @internal */
  detach(node: InMemoryMembership): void {
    this.observers.delete(node);
  }

  /** @internal */
  join(self: Member, node: InMemoryMembership): void {
    const existing = this.members.get(self.id);
    if (existing !== undefined && existing.incarnation > self.incarnation) {
      throw new Error(
        `member id ${JSON.stringify(self.id)} is registered by a newer incarnation (${existing.incarnation})`,
      );
    }
    const previous = this.nodes.get(self.id);
    if (previous !== undefined && previous !== node) previous.fence();
    this.admit(self, node);
    this.publish();
  }

  /** @internal */
  leave(self: Member, node: InMemoryMembership): Topology {
    if (this.nodes.get(self.id) === node) {
      this.members.delete(self.id);
      this.nodes.delete(self.id);
      this.epoch = nextEpoch(this.epoch, 0, this.now());
      const topology = this.topology();
      for (const other of this.observers) if (other !== node) other.deliver(topology);
      return topology;
    }
    return this.topology();
  }

  private admit(self: Member, node: InMemoryMembership): void {
    this.members.set(self.id, self);
    this.nodes.set(self.id, node);
    this.epoch = nextEpoch(this.epoch, 0, this.now());
  }

  private publish(): void {
    const topology = this.topology();
    for (const node of [...this.observers]) node.deliver(topology);
  }
}

export interface InMemoryMembershipOptions {
  /** Share one registry between several providers to run many nodes in one process. */
  readonly registry?: InMemoryRegistry;
  readonly logger?: Logger;
}

/**
 * Membership without any infrastructure: the one-node embedded default, and a multi-node
 * stand-in for tests (pass the same `registry` to several providers).
 *
 * Changes are delivered synchronously, before join()/leave() resolve. There are no heartbeats:
 * close() is a crash as far as the others know, and the member stays listed until
 * `registry.expire(id)` (which is how tests simulate a lease running out).
 */
export class InMemoryMembership implements MembershipProvider {
  private readonly registry: InMemoryRegistry;
  private readonly feed: TopologyFeed;
  private self: Member | undefined;
  private state: 'idle' | 'joined' | 'fenced' | 'left' | 'closed' = 'idle';

  constructor(options: InMemoryMembershipOptions = {}) {
    this.registry = options.registry ?? new InMemoryRegistry();
    this.feed = new TopologyFeed(options.logger ?? stderrLogger);
    this.registry.attach(this);
  }

  async join(self: Member): Promise<Topology> {
    validateMember(self);
    if (this.state !== 'idle') throw new Error(`cannot join: this provider is ${this.state}`);
    const member = copyMember(self);
    this.self = member;
    this.state = 'joined';
    try {
      this.registry.join(member, this);
    } catch (err) {
      this.state = 'idle';
      this.self = undefined;
      throw err;
    }
    return this.feed.current();
  }

  current(): Topology {
    return this.feed.current();
  }

  onChange(listener: (topology: Topology) => void): () => void {
    return this.feed.onChange(listener);
  }

  onLeaseLost(listener: () => void): () => void {
    return this.feed.onLeaseLost(listener);
  }

  /** True while this node holds its membership (joined and not fenced). */
  hasLease(): boolean {
    return this.state === 'joined';
  }

  async refresh(): Promise<Topology> {
    this.deliver(this.registry.topology());
    return this.feed.current();
  }

  async leave(): Promise<void> {
    if (this.state === 'left' || this.state === 'closed') return;
    const self = this.self;
    const wasMember = this.state === 'joined' || this.state === 'fenced';
    this.state = 'left';
    if (wasMember && self !== undefined) this.feed.offer(this.registry.leave(self, this));
    this.registry.detach(this);
    this.feed.clearListeners();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.registry.detach(this);
    this.feed.clearListeners();
  }

  /** @internal Called by the registry. */
  deliver(topology: Topology): void {
    if (this.state === 'left' || this.state === 'closed' || this.state === 'fenced') return;
    if (this.state === 'joined' && !topology.members.some((m) => m.id === this.self?.id)) return;
    this.feed.offer(topology);
  }

  /** @internal Called by the registry. */
  fence(): void {
    if (this.state !== 'joined') return;
    this.state = 'fenced';
    this.feed.fireLeaseLost();
  }

  /** @internal Called by the registry. */
  fencedSelf(): Member | undefined {
    return this.state === 'fenced' ? this.self : undefined;
  }

  /** @internal Called by the registry. */
  unfence(): void {
    if (this.state === 'fenced') this.state = 'joined';
  }
}
