import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisMembership, type RedisMembershipOptions } from '../../../cluster/membership/redis.ts';
import type { Topology } from '../../../cluster/membership/types.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import {
  CapturingLogger,
  deleteClusterKeys,
  expectStrictlyIncreasing,
  ids,
  member,
  OwnRedis,
  Recorder,
  SHARED_REDIS_URL,
  sleep,
  TcpProxy,
  uniqueClusterName,
  waitFor,
} from './helpers.ts';

const providers: RedisMembership[] = [];
const recorders: Recorder[] = [];

function provider(options: RedisMembershipOptions): RedisMembership {
  const p = new RedisMembership({ logger: silentLogger, pollIntervalMs: 200, ...options });
  providers.push(p);
  return p;
}

function record(p: RedisMembership): Recorder {
  const rec = new Recorder().attach(p);
  recorders.push(rec);
  return rec;
}

afterEach(async () => {
  for (const rec of recorders.splice(0)) expectStrictlyIncreasing(rec.epochs());
  await Promise.all(providers.splice(0).map((p) => p.close()));
});

/** After its (last) onLeaseLost, a node's next delivery is its re-join: it contains itself. */
function expectRejoinAfterLeaseLost(rec: Recorder, selfId: string): Topology {
  const lostAt = rec.events.map((e) => e.kind).lastIndexOf('leaseLost');
  expect(lostAt).toBeGreaterThanOrEqual(0);
  const next = rec.events[lostAt + 1];
  if (next?.kind !== 'change') throw new Error('no topology after the lease was lost');
  expect(ids(next.topology)).toContain(selfId);
  return next.topology;
}

describe('RedisMembership: a node cut off from Redis', () => {
  let proxy: TcpProxy;
  const name = uniqueClusterName();

  beforeAll(async () => {
    proxy = await TcpProxy.start(Number(new URL(SHARED_REDIS_URL).port || 6379));
  });

  afterAll(async () => {
    await proxy.cut();
    await deleteClusterKeys(SHARED_REDIS_URL, [name]);
  });

  it('fences itself (onLeaseLost) before the others remove it, then re-joins', async () => {
    // Lease 400 ms; the cut-off node fences 300 ms after its last renewal was sent.
    const options = { clusterName: name, heartbeatIntervalMs: 100, missedHeartbeats: 4 };
    const a = provider({ ...options, redisUrl: proxy.url });
    const b = provider({ ...options, redisUrl: SHARED_REDIS_URL });
    const c = provider({ ...options, redisUrl: SHARED_REDIS_URL });
    const recA = record(a);
    const recB = record(b);
    const recC = record(c);
    await a.join(member('a'));
    await b.join(member('b'));
    await c.join(member('c'));
    await waitFor('a sees 3', () => a.current().members.length === 3);
    const before = a.current();

    const cutAt = performance.now();
    await proxy.cut();
    await waitFor('b and c remove a', () => [b, c].every((n) => !ids(n.current()).includes('a')));
    const removedAt = Math.min(
      recB.firstAfter(cutAt, (t) => !ids(t).includes('a'))!,
      recC.firstAfter(cutAt, (t) => !ids(t).includes('a'))!,
    );
    expect(recA.leaseLost).toHaveLength(1);
    const lostAt = recA.leaseLost[0]!;
    // Ordering is the property: a stopped hosting before anyone could take its actors over.
    expect(lostAt).toBeLessThan(removedAt);
    // And within its lease of the cut (generous bound for a loaded machine).
    expect(lostAt - cutAt).toBeLessThan(400 + 1_500);
    expect(a.hasLease()).toBe(false);
    // During the outage a keeps its last topology and delivers nothing.
    expect(a.current()).toBe(before);

    await proxy.restore();
    await waitFor('everyone sees a again', () =>
      [a, b, c].every((n) => n.current().members.length === 3),
    );
    const rejoined = expectRejoinAfterLeaseLost(recA, 'a');
    expect(rejoined.epoch).toBeGreaterThan(before.epoch);
    expect(a.hasLease()).toBe(true);
    expect(recB.leaseLost).toEqual([]);
    expect(recC.leaseLost).toEqual([]);
  });
});

describe('RedisMembership: Redis restarts (own redis-server, no persistence)', () => {
  let redis: OwnRedis;

  beforeAll(async () => {
    redis = await OwnRedis.start();
  });

  afterAll(async () => {
    await redis.kill();
  });

  async function three(options: RedisMembershipOptions) {
    const clusterName = uniqueClusterName();
    const logs = [0, 1, 2].map(() => new CapturingLogger());
    const nodes = logs.map((logger) =>
      provider({ ...options, clusterName, redisUrl: redis.url, logger }),
    );
    const recs = nodes.map(record);
    await Promise.all(nodes.map((n, i) => n.join(member(`n${i + 1}`))));
    await waitFor('all see 3 at one epoch', () => {
      const epochs = new Set(nodes.map((n) => n.current().epoch));
      return epochs.size === 1 && nodes.every((n) => n.current().members.length === 3);
    });
    return { nodes, recs, logs };
  }

  it('a brief restart: last topology kept, members restored silently, epoch still increases', async () => {
    // Lease 1 s: the restart is shorter, so no node loses its lease.
    const { nodes, recs, logs } = await three({ heartbeatIntervalMs: 100, missedHeartbeats: 10 });
    const before = nodes.map((n) => n.current());

    await redis.kill();
    await sleep(150);
    // During the outage: still the last topology, still holding the lease (for now).
    nodes.forEach((n, i) => {
      expect(n.current()).toBe(before[i]);
    });
    await redis.start();

    await waitFor(
      'a newer topology with all three',
      () =>
        nodes.every(
          (n) => n.current().epoch > before[0]!.epoch && n.current().members.length === 3,
        ),
      5000,
    );
    for (const n of nodes) expect(ids(n.current())).toEqual(['n1', 'n2', 'n3']);
    for (const rec of recs) expect(rec.leaseLost).toEqual([]);
    for (const n of nodes) expect(n.hasLease()).toBe(true);
    for (const log of logs) {
      // Each node noticed the outage, and re-registered within the recovery window.
      expect(log.count(/Redis unreachable/, 'warn')).toBe(1);
      expect(log.count(/re-registered during recovery/)).toBe(1);
      expect(log.count(/reachable again/)).toBe(1);
    }
  });

  it('a long outage: every node fences, then all re-register with a higher epoch', async () => {
    // Lease 400 ms: a 700 ms outage outlives it.
    const { nodes, recs } = await three({ heartbeatIntervalMs: 100, missedHeartbeats: 4 });
    const before = nodes.map((n) => n.current());

    await redis.kill();
    await waitFor('all fenced', () => recs.every((r) => r.leaseLost.length === 1), 3000);
    nodes.forEach((n, i) => {
      expect(n.current()).toBe(before[i]);
      expect(n.hasLease()).toBe(false);
    });
    await sleep(300);
    await redis.start();

    await waitFor(
      'a newer topology with all three',
      () =>
        nodes.every(
          (n) => n.current().epoch > before[0]!.epoch && n.current().members.length === 3,
        ),
      5000,
    );
    recs.forEach((rec, i) => {
      const rejoined = expectRejoinAfterLeaseLost(rec, `n${i + 1}`);
      expect(rejoined.epoch).toBeGreaterThan(before[0]!.epoch);
    });
    for (const n of nodes) expect(n.hasLease()).toBe(true);
  });
});
