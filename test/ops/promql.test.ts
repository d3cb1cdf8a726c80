import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningClusterNode, startClusterNode } from '../../app/cluster-node.ts';
import { loadConfig } from '../../app/config.ts';
import { type RunningNode, startEmbedded } from '../../app/embedded.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';
import { promQueries } from './dashboard-queries.ts';
import { expandPromQL } from './grafana-expand.ts';
import { TestPrometheus } from './prometheus.ts';
import { type Exposition, familyOf, metricNames, parseExposition } from './promql-names.ts';

/**
 * Every PromQL expression of every dashboard runs against a real Prometheus that scraped two
 * running Gito processes: the embedded default (runtime, ingest, devices, gateway) and a cluster
 * node (runtime and cluster metrics). Every metric an expression names must be exposed by one of
 * them, or be listed in planned-metrics.json with the issue that adds it; docs/metrics.md must
 * describe every exposed and every planned gito_* metric.
 */

interface Planned {
  readonly name: string;
  readonly issue: number;
  readonly note: string;
}
const PLANNED: readonly Planned[] = (
  JSON.parse(readFileSync(new URL('./planned-metrics.json', import.meta.url), 'utf8')) as {
    metrics: Planned[];
  }
).metrics;
const PLANNED_NAMES = new Set(PLANNED.map((p) => p.name));
const QUERIES = promQueries();
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let db: MigratedTestDatabase;
let dataDir: string;
let embedded: RunningNode | undefined;
let node: RunningClusterNode | undefined;
let prometheus: TestPrometheus | undefined;
let exposed: Exposition;
const clusterName = `ops-${randomBytes(5).toString('hex')}`;

function hostPort(url: string): string {
  return new URL(url).host;
}

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'gito-ops-'));
  const common = { GITO_HTTP_PORT: '0', GITO_LOG_LEVEL: 'silent', GITO_DATABASE_URL: db.url };
  embedded = await startEmbedded(
    loadConfig({
      ...common,
      GITO_NODE_ID: 'ops-embedded',
      GITO_MQTT_PORT: '0',
      GITO_DATA_DIR: dataDir,
    }),
  );
  node = await startClusterNode(
    loadConfig({
      ...common,
      GITO_NODE_ID: 'ops-node',
      GITO_REDIS_URL: REDIS_URL,
      GITO_CLUSTER_NAME: clusterName,
      GITO_GRPC_LISTEN: '127.0.0.1:0',
    }),
  );

  // Some telemetry (and one bad message) so ingest, device and actor metrics carry samples.
  const publisher = await mqtt.connectAsync(embedded.mqttUrl);
  for (let i = 0; i < 5; i++) {
    await publisher.publishAsync(
      `demo/devices/ops-${i}/telemetry`,
      JSON.stringify({ temperature: 20 + i }),
      { qos: 1 },
    );
  }
  await publisher.publishAsync('demo/devices/ops-0/telemetry', '{broken', { qos: 1 });
  await publisher.endAsync();
  for (let i = 0; i < 100; i++) {
    const status = (await (await fetch(`${embedded.url}/status`)).json()) as {
      ingest: { rowsWritten: number };
    };
    if (status.ingest.rowsWritten === 5) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const texts = await Promise.all(
    [embedded.url, node.httpUrl].map(async (u) => (await fetch(`${u}/metrics`)).text()),
  );
  exposed = parseExposition(texts.join('\n'));
  prometheus = await TestPrometheus.start([hostPort(embedded.url), hostPort(node.httpUrl)]);
  await prometheus.untilScraped(2, 3);
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await embedded?.stop();
  await node?.stop();
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${clusterName}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  await db?.drop();
}, 30_000);

const isExposed = (name: string) =>
  exposed.sampled.has(name) || exposed.families.has(familyOf(name, exposed.histograms));
const isPlanned = (name: string) =>
  PLANNED_NAMES.has(name) || PLANNED_NAMES.has(name.replace(/_(bucket|sum|count)$/, ''));

function context() {
  const now = new Date();
  return {
    from: new Date(now.getTime() - 3_600_000),
    to: now,
    intervalMs: 15_000,
    rateInterval: '30s',
    variables: { node: '.*' },
  };
}

describe('dashboard PromQL against Prometheus scraping a node and the embedded default', () => {
  it('finds every expression the dashboards hold', () => {
    expect(QUERIES.length).toBeGreaterThan(40);
  });

  for (const q of QUERIES.filter((x) => !x.query.variable)) {
    it(`${q.dashboard}: ${q.where} runs and reads exposed (or planned) metrics`, async () => {
      const expr = expandPromQL(q.query.expr, context());
      const result = await prometheus!.query(expr);
      expect(result.error ?? '', expr).toBe('');
      expect(result.status).toBe('success');
      const names = metricNames(expr);
      expect(names.length, `no metric found in ${expr}`).toBeGreaterThan(0);
      const unknown = names.filter((n) => !isExposed(n) && !isPlanned(n));
      expect(unknown, `not exposed and not in planned-metrics.json: ${expr}`).toEqual([]);
      // Where every metric has samples and nothing filters the result, there must be a result.
      if (
        names.every((n) => exposed.sampled.has(n)) &&
        !/[<>]|==|!=(?!~)/.test(expr.replace(/\{[^}]*\}/g, ''))
      ) {
        expect(result.data?.result.length ?? 0, `empty result: ${expr}`).toBeGreaterThan(0);
      }
    });
  }

  for (const q of QUERIES.filter((x) => x.query.variable)) {
    it(`${q.dashboard}: ${q.where} lists both scraped processes`, async () => {
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(q.query.expr);
      expect(m, q.query.expr).not.toBeNull();
      expect(isExposed(m![1]!)).toBe(true);
      const result = await prometheus!.labelValues(m![2]!, m![1]!);
      expect(result.status).toBe('success');
      expect(result.data).toEqual(expect.arrayContaining(['ops-embedded', 'ops-node']));
    });
  }

  it('lists in planned-metrics.json only metrics that are not exposed yet, each with its issue', () => {
    for (const p of PLANNED) {
      expect(Number.isInteger(p.issue) && p.issue > 0, p.name).toBe(true);
      expect(
        isExposed(p.name),
        `${p.name} is exposed now: remove it from planned-metrics.json`,
      ).toBe(false);
    }
  });

  it('documents every exposed and planned gito_* metric in docs/metrics.md', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/`(gito_[a-z0-9_]+)`/g)].map((m) => m[1]!));
    const families = [...exposed.families].filter((f) => f.startsWith('gito_'));
    expect(families.filter((f) => !documented.has(f))).toEqual([]);
    expect(PLANNED.map((p) => p.name).filter((n) => !documented.has(n))).toEqual([]);
    // And nothing is catalogued that is neither served nor planned.
    expect([...documented].filter((n) => !isExposed(n) && !isPlanned(n))).toEqual([]);
    // Planned metrics are marked as such on their line of the catalogue.
    for (const p of PLANNED) {
      const line = doc.split('\n').find((l) => l.includes(`\`${p.name}\``) && l.startsWith('|'));
      expect(line, `${p.name} has no catalogue row`).toBeDefined();
      expect(line!.toLowerCase(), p.name).toContain('planned');
    }
  });
});
