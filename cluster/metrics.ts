import { Counter, Gauge, type Registry } from 'prom-client';

/** Cluster counters: plain fields on the hot path, read by prom-client at scrape time. */
export class ClusterStats {
  epoch = 0;
  members = 0;
  rebalances = 0;
  remoteSent = 0;
  remoteReceived = 0;
  forwarded = 0;
  held = 0;
  hopLimited = 0;
  undeliverable = 0;
  handoffWaitMs = 0;
  passivatedForRebalance = 0;
}

export function registerClusterMetrics(registry: Registry, stats: ClusterStats): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  gauge('gito_cluster_epoch', 'Topology epoch this node is at', () => stats.epoch);
  gauge('gito_cluster_members', "Live members in this node's topology", () => stats.members);
  gauge(
    'gito_cluster_held_messages',
    'Messages held for identities waiting on a handoff',
    () => stats.held,
  );
  counter(
    'gito_cluster_rebalances_total',
    'Topology changes this node rebalanced for',
    () => stats.rebalances,
  );
  counter(
    'gito_cluster_remote_sent_total',
    'Actor messages sent to other nodes',
    () => stats.remoteSent,
  );
  counter(
    'gito_cluster_remote_received_total',
    'Actor messages received from other nodes',
    () => stats.remoteReceived,
  );
  counter(
    'gito_cluster_forwarded_total',
    'Messages forwarded because this node was not the owner',
    () => stats.forwarded,
  );
  counter(
    'gito_cluster_hop_limited_total',
    'Messages refused after too many forwarding hops',
    () => stats.hopLimited,
  );
  counter(
    'gito_cluster_undeliverable_total',
    'Remote messages that could not be delivered (unknown kind, full mailbox...)',
    () => stats.undeliverable,
  );
  counter(
    'gito_cluster_rebalance_passivations_total',
    'Activations passivated because their identity moved to another node',
    () => stats.passivatedForRebalance,
  );
  gauge(
    'gito_cluster_last_handoff_wait_seconds',
    'How long the last handoff held new activations',
    () => stats.handoffWaitMs / 1000,
  );
}
