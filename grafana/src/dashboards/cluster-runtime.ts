import { dashboard, type Query, queryVariable, stat, timeseries } from '../build.ts';
import { PROMETHEUS } from '../datasources.ts';
import type { Dashboard } from '../types.ts';

/** Selects the nodes chosen in the `node` variable (every series carries its node label). */
const N = 'node=~"$node"';
const RATE = '[$__rate_interval]';

function quantiles(metric: string, by: string, label: string): Query[] {
  return [0.5, 0.95, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket{${N}}${RATE})))`,
    legend: `${label} p${q * 100}`,
  }));
}

/** Members, epoch, actors, message rates, mailboxes, rebalances, latency, ingest, process. */
export const clusterRuntime: Dashboard = dashboard({
  uid: 'gito-cluster-runtime',
  title: 'Gito: Cluster runtime',
  description:
    'The actor runtime and the cluster from Prometheus: membership and epoch, actors per node and kind, local and remote message rates, mailboxes, rebalances, handler latency, ingest, alerting, notifications, gateway and process health.',
  from: 'now-1h',
  refresh: '30s',
  variables: [
    queryVariable({
      name: 'node',
      label: 'Node',
      description: 'Gito nodes (and gateways) scraped by Prometheus',
      datasource: PROMETHEUS,
      query: 'label_values(process_start_time_seconds, node)',
      refresh: 2,
      sort: 1,
      multi: true,
      allValue: '.*',
    }),
  ],
  sections: [
    {
      rows: [
        [
          stat({
            title: 'Members',
            description: 'Live members in the topology, as the most up-to-date node sees it.',
            w: 4,
            queries: [
              { expr: `max(gito_cluster_members{${N}})`, legend: 'members', instant: true },
            ],
          }),
          stat({
            title: 'Epoch',
            description: 'Topology epoch; it rises on every join, leave or death.',
            w: 4,
            queries: [{ expr: `max(gito_cluster_epoch{${N}})`, legend: 'epoch', instant: true }],
          }),
          stat({
            title: 'Epochs in use',
            description:
              'Distinct epochs the nodes are at: 1 when every node agrees (more for a moment during a change).',
            w: 4,
            thresholds: [
              { color: 'green', value: null },
              { color: 'orange', value: 2 },
            ],
            queries: [
              {
                expr: `count(count_values("epoch", gito_cluster_epoch{${N}}))`,
                legend: 'epochs',
                instant: true,
              },
            ],
          }),
          stat({
            title: 'Actors',
            description: 'Activations resident across the selected nodes.',
            w: 4,
            queries: [{ expr: `sum(gito_actor_active{${N}})`, legend: 'actors', instant: true }],
          }),
          stat({
            title: 'Messages/s',
            description: 'Messages handled per second across the selected nodes.',
            w: 4,
            unit: 'ops',
            queries: [
              {
                expr: `sum(rate(gito_actor_messages_total{${N}}${RATE}))`,
                legend: 'messages/s',
                instant: true,
              },
            ],
          }),
          stat({
            title: 'Held for handoff',
            description: 'Messages held for identities waiting on a handoff (0 when settled).',
            w: 4,
            thresholds: [
              { color: 'green', value: null },
              { color: 'orange', value: 1 },
            ],
            queries: [
              { expr: `sum(gito_cluster_held_messages{${N}})`, legend: 'held', instant: true },
            ],
          }),
        ],
        [
          timeseries({
            title: 'Epoch per node',
            description:
              'Each node’s epoch: lines apart for longer than a heartbeat or two mean a node is not learning changes.',
            w: 12,
            queries: [{ expr: `gito_cluster_epoch{${N}}`, legend: '{{node}}' }],
          }),
          timeseries({
            title: 'Members seen per node',
            description: 'How many live members each node counts.',
            w: 12,
            queries: [{ expr: `gito_cluster_members{${N}}`, legend: '{{node}}' }],
          }),
        ],
      ],
    },
    {
      title: 'Actors',
      rows: [
        [
          timeseries({
            title: 'Actors per node',
            description:
              'Resident activations per node: placement spreads identities evenly, so lines should be close.',
            w: 8,
            queries: [{ expr: `sum by (node) (gito_actor_active{${N}})`, legend: '{{node}}' }],
          }),
          timeseries({
            title: 'Actors per kind',
            description: 'Resident activations per actor kind.',
            w: 8,
            queries: [{ expr: `sum by (kind) (gito_actor_active{${N}})`, legend: '{{kind}}' }],
          }),
          timeseries({
            title: 'Activations and passivations/s',
            description: 'Activations started and passivated (state saved) per second, by kind.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (kind) (rate(gito_actor_activations_total{${N}}${RATE}))`,
                legend: '{{kind}} activated',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_passivations_total{${N}}${RATE}))`,
                legend: '{{kind}} passivated',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Messages',
      rows: [
        [
          timeseries({
            title: 'Messages handled/s per node',
            description: 'Messages processed by actor handlers per second, per node.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (node) (rate(gito_actor_messages_total{${N}}${RATE}))`,
                legend: '{{node}}',
              },
            ],
          }),
          timeseries({
            title: 'Remote messages/s per node',
            description: 'Actor messages sent to and received from other nodes over gRPC.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (node) (rate(gito_cluster_remote_sent_total{${N}}${RATE}))`,
                legend: '{{node}} sent',
              },
              {
                expr: `sum by (node) (rate(gito_cluster_remote_received_total{${N}}${RATE}))`,
                legend: '{{node}} received',
              },
            ],
          }),
          timeseries({
            title: 'Forwarding/s',
            description:
              'Messages forwarded because the receiver was not the owner (stale topology), refused after too many hops, or undeliverable.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (node) (rate(gito_cluster_forwarded_total{${N}}${RATE}))`,
                legend: '{{node}} forwarded',
              },
              {
                expr: `sum by (node) (rate(gito_cluster_hop_limited_total{${N}}${RATE}))`,
                legend: '{{node}} hop limit',
              },
              {
                expr: `sum by (node) (rate(gito_cluster_undeliverable_total{${N}}${RATE}))`,
                legend: '{{node}} undeliverable',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Mailboxes and latency',
      rows: [
        [
          timeseries({
            title: 'Mailbox depth by kind',
            description:
              'Messages waiting in mailboxes, summed by kind: a steady rise means handlers cannot keep up.',
            w: 8,
            queries: [
              { expr: `sum by (kind) (gito_actor_mailbox_depth{${N}})`, legend: '{{kind}}' },
            ],
          }),
          timeseries({
            title: 'Handler latency by kind',
            description: 'Handler duration percentiles (synchronous turns sampled 1 in 64).',
            w: 8,
            unit: 's',
            queries: quantiles('gito_actor_handler_duration_seconds', 'kind', '{{kind}}'),
          }),
          timeseries({
            title: 'Failures/s',
            description:
              'Handler failures, supervision restarts, full-mailbox refusals, expired asks and dead letters per second.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (kind) (rate(gito_actor_failures_total{${N}}${RATE}))`,
                legend: '{{kind}} failures',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_restarts_total{${N}}${RATE}))`,
                legend: '{{kind}} restarts',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_mailbox_rejected_total{${N}}${RATE}))`,
                legend: '{{kind}} mailbox full',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_asks_expired_total{${N}}${RATE}))`,
                legend: '{{kind}} asks expired',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_dead_letters_total{${N}}${RATE}))`,
                legend: '{{kind}} dead letters',
              },
              {
                expr: `sum by (kind) (rate(gito_actor_activation_failures_total{${N}}${RATE}))`,
                legend: '{{kind}} activation failures',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Rebalancing',
      rows: [
        [
          timeseries({
            title: 'Rebalances',
            description: 'Topology changes each node rebalanced for, per interval.',
            w: 6,
            bars: true,
            queries: [
              {
                expr: `sum by (node) (increase(gito_cluster_rebalances_total{${N}}${RATE}))`,
                legend: '{{node}}',
              },
            ],
          }),
          timeseries({
            title: 'Passivated for rebalance/s',
            description: 'Activations passivated because their identity moved to another node.',
            w: 6,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (node) (rate(gito_cluster_rebalance_passivations_total{${N}}${RATE}))`,
                legend: '{{node}}',
              },
            ],
          }),
          timeseries({
            title: 'Last handoff wait',
            description:
              'How long the last handoff held new activations of moving identities, per node.',
            w: 6,
            unit: 's',
            queries: [{ expr: `gito_cluster_last_handoff_wait_seconds{${N}}`, legend: '{{node}}' }],
          }),
          timeseries({
            title: 'Held messages',
            description: 'Messages held for identities waiting on a handoff, per node.',
            w: 6,
            queries: [{ expr: `gito_cluster_held_messages{${N}}`, legend: '{{node}}' }],
          }),
        ],
      ],
    },
    {
      title: 'Ingest',
      rows: [
        [
          timeseries({
            title: 'Telemetry messages/s by outcome',
            description:
              'MQTT/HTTP telemetry messages received per second: accepted, rejected (bad input), throttled (rate limit).',
            w: 8,
            unit: 'ops',
            stack: true,
            queries: [
              {
                expr: `sum by (outcome) (rate(gito_ingest_messages_total{${N}}${RATE}))`,
                legend: '{{outcome}}',
              },
            ],
          }),
          timeseries({
            title: 'Bad input/s by reason',
            description:
              'Dropped telemetry messages per second by reason (docs/ingestion.md lists them).',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (reason) (rate(gito_ingest_bad_input_total{${N}}${RATE})) > 0`,
                legend: '{{reason}}',
              },
            ],
          }),
          timeseries({
            title: 'Rows written/s',
            description:
              'Telemetry rows committed per second per node; duplicates (redeliveries) and write failures.',
            w: 8,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (node) (rate(gito_ingest_rows_written_total{${N}}${RATE}))`,
                legend: '{{node}} written',
              },
              {
                expr: `sum(rate(gito_ingest_duplicates_total{${N}}${RATE}))`,
                legend: 'duplicates',
              },
              {
                expr: `sum(rate(gito_ingest_write_failures_total{${N}}${RATE}))`,
                legend: 'write failures',
              },
              {
                expr: `sum(rate(gito_ingest_write_retries_total{${N}}${RATE}))`,
                legend: 'write retries',
              },
              {
                expr: `sum by (reason) (rate(gito_ingest_rows_rejected_total{${N}}${RATE}))`,
                legend: 'rejected {{reason}}',
              },
            ],
          }),
        ],
        [
          timeseries({
            title: 'Batch write latency',
            description: 'Time from a batch leaving the buffer to its commit.',
            w: 8,
            unit: 's',
            queries: quantiles('gito_ingest_write_seconds', 'node', '{{node}}'),
          }),
          timeseries({
            title: 'Rows per batch',
            description:
              'Median and 99th percentile batch size: small batches under load mean the flush interval is too short.',
            w: 8,
            queries: [
              {
                expr: `histogram_quantile(0.5, sum by (le) (rate(gito_ingest_batch_rows_bucket{${N}}${RATE})))`,
                legend: 'p50',
              },
              {
                expr: `histogram_quantile(0.99, sum by (le) (rate(gito_ingest_batch_rows_bucket{${N}}${RATE})))`,
                legend: 'p99',
              },
            ],
          }),
          timeseries({
            title: 'Buffered rows',
            description:
              'Rows accepted and not yet committed, per node (a node stops reading at 20,000 unacknowledged).',
            w: 8,
            queries: [{ expr: `gito_ingest_buffered_rows{${N}}`, legend: '{{node}}' }],
          }),
        ],
        [
          timeseries({
            title: 'Device transitions/s',
            description: 'Devices going online or offline per second.',
            w: 24,
            h: 6,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (to) (rate(gito_device_transitions_total{${N}}${RATE}))`,
                legend: '{{to}}',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Alerting and notifications',
      rows: [
        [
          timeseries({
            title: 'Alert events/s',
            description: 'Alert lifecycle changes committed per second, by event.',
            w: 6,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (event) (rate(gito_alert_events_total{${N}}${RATE}))`,
                legend: '{{event}}',
              },
            ],
          }),
          timeseries({
            title: 'Deliveries/s by channel and status',
            description:
              'Notification deliveries finished per second (delivered, failed, cancelled) by channel, and attempts that will be retried.',
            w: 6,
            unit: 'ops',
            queries: [
              {
                expr: `sum by (channel, status) (rate(gito_notify_deliveries_total{${N}}${RATE}))`,
                legend: '{{channel}} {{status}}',
              },
              {
                expr: `sum by (channel) (rate(gito_notify_attempts_total{${N}, result="retryable"}${RATE}))`,
                legend: '{{channel}} retries',
              },
            ],
          }),
          timeseries({
            title: 'Delivery latency',
            description:
              'From the alert opening to the provider accepting the notification (p99), and one provider call (p99), by channel.',
            w: 6,
            unit: 's',
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (le, channel) (rate(gito_notify_delivery_latency_seconds_bucket{${N}}${RATE})))`,
                legend: '{{channel}} from alert open p99',
              },
              {
                expr: `histogram_quantile(0.99, sum by (le, channel) (rate(gito_notify_attempt_duration_seconds_bucket{${N}}${RATE})))`,
                legend: '{{channel}} attempt p99',
              },
            ],
          }),
          timeseries({
            title: 'Dispatch pressure',
            description:
              'Deliveries being sent right now per node, sends postponed by rate limits, and deliveries reclaimed from nodes that died mid-send.',
            w: 6,
            queries: [
              { expr: `sum by (node) (gito_notify_in_flight{${N}})`, legend: '{{node}} in flight' },
              {
                expr: `sum by (scope) (rate(gito_notify_throttled_total{${N}}${RATE}))`,
                legend: 'throttled/s {{scope}}',
              },
              {
                expr: `sum(rate(gito_notify_reclaimed_total{${N}}${RATE}))`,
                legend: 'reclaimed/s',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Gateway',
      rows: [
        [
          timeseries({
            title: 'Requests/s by route and status',
            description: 'HTTP requests per second by route pattern and status class.',
            w: 8,
            unit: 'reqps',
            queries: [
              {
                expr: `sum by (route, status) (rate(gito_gateway_request_duration_seconds_count{${N}}${RATE}))`,
                legend: '{{route}} {{status}}',
              },
            ],
          }),
          timeseries({
            title: 'Request latency p99 by route',
            description: 'The 99th percentile of request duration per route.',
            w: 8,
            unit: 's',
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (le, route) (rate(gito_gateway_request_duration_seconds_bucket{${N}}${RATE})))`,
                legend: '{{route}}',
              },
            ],
          }),
          timeseries({
            title: 'Error responses/s by type',
            description: 'Problem responses (4xx and 5xx) per second by status and problem type.',
            w: 8,
            unit: 'reqps',
            queries: [
              {
                expr: `sum by (status, type) (rate(gito_gateway_problems_total{${N}}${RATE}))`,
                legend: '{{status}} {{type}}',
              },
            ],
          }),
        ],
        [
          timeseries({
            title: 'Live stream',
            description:
              'Open WebSocket connections of the live stream per node, and events pushed per second.',
            w: 12,
            queries: [
              {
                expr: `sum by (node) (gito_live_connections{${N}})`,
                legend: '{{node}} connections',
              },
              { expr: `sum(rate(gito_live_events_sent_total{${N}}${RATE}))`, legend: 'events/s' },
              {
                expr: `sum by (reason) (rate(gito_live_dropped_total{${N}}${RATE}))`,
                legend: 'dropped/s {{reason}}',
              },
            ],
          }),
          timeseries({
            title: 'Audit log writes/s',
            description:
              'Audit records committed per second, writes retried, and records not written (each is logged).',
            w: 12,
            unit: 'ops',
            queries: [
              {
                expr: `sum(rate(gito_audit_records_written_total{${N}}${RATE}))`,
                legend: 'written',
              },
              { expr: `sum(rate(gito_audit_write_retries_total{${N}}${RATE}))`, legend: 'retried' },
              {
                expr: `sum(rate(gito_audit_write_errors_total{${N}}${RATE}))`,
                legend: 'not written',
              },
            ],
          }),
        ],
      ],
    },
    {
      title: 'Process',
      rows: [
        [
          timeseries({
            title: 'CPU',
            description: 'CPU seconds per second used by each process (1 = one core).',
            w: 6,
            unit: 'percentunit',
            queries: [{ expr: `rate(process_cpu_seconds_total{${N}}${RATE})`, legend: '{{node}}' }],
          }),
          timeseries({
            title: 'Resident memory',
            description: 'Resident set size of each process.',
            w: 6,
            unit: 'bytes',
            queries: [{ expr: `process_resident_memory_bytes{${N}}`, legend: '{{node}}' }],
          }),
          timeseries({
            title: 'Heap used',
            description: 'V8 heap in use per process.',
            w: 6,
            unit: 'bytes',
            queries: [
              { expr: `sum by (node) (nodejs_heap_size_used_bytes{${N}})`, legend: '{{node}}' },
            ],
          }),
          timeseries({
            title: 'Event loop lag p99',
            description:
              'Event loop delay: above a few tens of milliseconds, handlers and I/O wait on each other.',
            w: 6,
            unit: 's',
            queries: [{ expr: `nodejs_eventloop_lag_p99_seconds{${N}}`, legend: '{{node}}' }],
          }),
        ],
      ],
    },
  ],
});
