import { Redis } from 'ioredis';
import { RedisMembership } from '../cluster/membership/index.ts';
import type { Topology } from '../cluster/membership/types.ts';
import { silentLogger } from '../runtime/index.ts';

/** What each node publishes about itself for `gito cluster status`. */
export interface NodeStats {
  readonly node: string;
  readonly address: string;
  readonly epoch: number;
  readonly settled: boolean;
  readonly actors: number;
  readonly byKind: Record<string, number>;
  readonly at: number;
}

export function nodeStatsKey(clusterName: string, nodeId: string): string {
  return `{${clusterName}}:node-stats:${nodeId}`;
}

export interface ClusterStatus {
  readonly topology: Topology;
  readonly nodes: ReadonlyArray<{ id: string; address: string; stats: NodeStats | undefined }>;
}

export async function readClusterStatus(
  redisUrl: string,
  clusterName: string,
): Promise<ClusterStatus> {
  const membership = new RedisMembership({ redisUrl, clusterName, logger: silentLogger });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    const topology = await membership.refresh();
    await redis.connect();
    const raw =
      topology.members.length === 0
        ? []
        : await redis.mget(topology.members.map((m) => nodeStatsKey(clusterName, m.id)));
    const nodes = topology.members.map((m, i) => ({
      id: m.id,
      address: m.address,
      stats: raw[i] ? (JSON.parse(raw[i]!) as NodeStats) : undefined,
    }));
    return { topology, nodes };
  } finally {
    redis.disconnect();
    await membership.close().catch(() => undefined);
  }
}

export function formatClusterStatus(status: ClusterStatus): string {
  const lines = [`epoch ${status.topology.epoch}, ${status.nodes.length} member(s)`];
  lines.push('NODE                 ADDRESS               ACTORS  SETTLED  BY KIND');
  for (const n of status.nodes) {
    const s = n.stats;
    const kinds =
      s === undefined
        ? '-'
        : Object.entries(s.byKind)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ') || '-';
    lines.push(
      `${n.id.padEnd(20)} ${n.address.padEnd(21)} ${String(s?.actors ?? '?').padStart(6)}  ${String(s?.settled ?? '?').padEnd(7)}  ${kinds}`,
    );
  }
  return lines.join('\n');
}
