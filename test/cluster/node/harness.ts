import { Registry } from 'prom-client';
import type { Member, MembershipProvider, Topology } from '../../../cluster/membership/types.ts';
import { ClusterNode, type NodeTransport } from '../../../cluster/node.ts';
import type { Envelope, TransportHandler } from '../../../cluster/transport/types.ts';
import {
  defineActor,
  type LifecycleEvent,
  MemoryStateStore,
  silentLogger,
} from '../../../runtime/index.ts';

/**
 * In-process stand-ins for Redis and gRPC, so the node's routing and handoff logic can be tested
 * deterministically and fast. The real providers have their own suites, and the multi-process
 * suite runs everything for real.
 */
export class SharedRegistry {
  epoch = 0;
  members = new Map<string, Member>();
  listeners = new Set<(t: Topology) => void>();

  topology(): Topology {
    return {
      epoch: this.epoch,
      members: [...this.members.values()].sort((a, b) => a.id.localeCompare(b.id)),
    };
  }

  change(mutate: () => void): void {
    mutate();
    this.epoch++;
    const t = this.topology();
    for (const l of this.listeners) setImmediate(() => l(t));
  }
}

class TestMembership implements MembershipProvider {
  private self: Member | undefined;
  private readonly mine = new Set<(t: Topology) => void>();
  constructor(private readonly registry: SharedRegistry) {}
  async join(self: Member): Promise<Topology> {
    this.self = self;
    this.registry.change(() => this.registry.members.set(self.id, self));
    return this.registry.topology();
  }
  current(): Topology {
    return this.registry.topology();
  }
  onChange(listener: (t: Topology) => void): () => void {
    this.registry.listeners.add(listener);
    this.mine.add(listener);
    return () => this.registry.listeners.delete(listener);
  }
  onLeaseLost(): () => void {
    return () => {};
  }
  async refresh(): Promise<Topology> {
    return this.registry.topology();
  }
  async leave(): Promise<void> {
    const id = this.self?.id;
    if (id !== undefined) this.registry.change(() => this.registry.members.delete(id));
  }
  async close(): Promise<void> {
    for (const l of this.mine) this.registry.listeners.delete(l);
  }
}

export class LoopbackNetwork {
  handlers = new Map<string, TransportHandler>();
  /** Drop everything sent to these nodes (a crashed process). */
  dead = new Set<string>();

  transport(nodeId: string) {
    return (handler: TransportHandler): NodeTransport => {
      this.handlers.set(nodeId, handler);
      return {
        start: async () => ({ address: `loop:${nodeId}` }),
        send: (peer: { id: string }, envelope: Envelope) => {
          if (this.dead.has(peer.id)) return;
          // Round-trip through the wire format so the test exercises the codec as well.
          const copy = JSON.parse(
            JSON.stringify(envelope, bufferReplacer),
            bufferReviver,
          ) as Envelope;
          setImmediate(() => {
            if (!this.dead.has(peer.id)) this.handlers.get(peer.id)?.onEnvelopes(nodeId, [copy]);
          });
        },
        disconnect: () => [],
        close: async () => {
          this.handlers.delete(nodeId);
        },
      };
    };
  }
}

function bufferReplacer(_key: string, value: unknown): unknown {
  if (
    value !== null &&
    typeof value === 'object' &&
    (value as { type?: string }).type === 'Buffer'
  ) {
    return { $buf: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}

function bufferReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '$buf' in (value as object)) {
    return Buffer.from((value as { $buf: string }).$buf, 'base64');
  }
  return value;
}

export type Counted = { type: 'add'; by: number } | { type: 'get' } | { type: 'where' };

export const counted = defineActor<{ total: number }, Counted>()({
  kind: 'counted',
  initialState: () => ({ total: 0 }),
  handlers: {
    async add(ctx, m) {
      ctx.state.total += m.by;
      await ctx.save();
      return ctx.state.total;
    },
    get: (ctx) => ctx.state.total,
    where: (ctx) => ctx.state.total,
  },
});

export interface TestCluster {
  registry: SharedRegistry;
  network: LoopbackNetwork;
  store: MemoryStateStore;
  nodes: Map<string, ClusterNode>;
  events: LifecycleEvent[];
  add(id: string): Promise<ClusterNode>;
}

export function testCluster(): TestCluster {
  const registry = new SharedRegistry();
  const network = new LoopbackNetwork();
  const store = new MemoryStateStore();
  const nodes = new Map<string, ClusterNode>();
  const events: LifecycleEvent[] = [];
  return {
    registry,
    network,
    store,
    nodes,
    events,
    async add(id: string) {
      const node = new ClusterNode({
        nodeId: id,
        membership: new TestMembership(registry),
        transport: network.transport(id),
        logger: silentLogger,
        registry: new Registry(),
        system: { stateStore: store, logger: silentLogger },
      });
      node.system.register(counted);
      node.system.onLifecycle((e) => events.push(e));
      nodes.set(id, node);
      await node.start();
      return node;
    },
  };
}

/** Fails if any identity was active on two nodes at overlapping times. */
export function assertSingleActivation(events: readonly LifecycleEvent[]): void {
  const open = new Map<string, LifecycleEvent>();
  for (const e of events) {
    if (e.type === 'activated') {
      const other = open.get(e.actor);
      if (other !== undefined && other.node !== e.node) {
        throw new Error(`${e.actor} activated on ${e.node} while active on ${other.node}`);
      }
      open.set(e.actor, e);
    } else if (e.type === 'deactivated' || e.type === 'activation-failed') {
      if (open.get(e.actor)?.node === e.node) open.delete(e.actor);
    }
  }
}

export const until = async (check: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};
