import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  membershipKeys,
  RedisMembership,
  type RedisMembershipOptions,
} from '../../../cluster/membership/redis.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import {
  deleteClusterKeys,
  expectStrictlyIncreasing,
  ids,
  member,
  Recorder,
  SHARED_REDIS_URL,
  uniqueClusterName,
  waitFor,
} from './helpers.ts';

const FAST = { heartbeatIntervalMs: 100, missedHeartbeats: 4 } as const; // lease 400 ms

const providers: RedisMembership[] = [];
const names: string[] = [];
const recorders: Recorder[] = [];

function cluster(): string {
  const name = uniqueClusterName();
  names.push(name);
  return name;
}

function provider(clusterName: string, options: RedisMembershipOptions = {}): RedisMembership {
  const p = new RedisMembership({
    redisUrl: SHARED_REDIS_URL,
    clusterName,
    logger: silentLogger,
    recoveryGraceMs: 0,
    pollIntervalMs: 60_000,
    ...FAST,
    ...options,
  });
  providers.push(p);
  return p;
}

function record(p: RedisMembership): Recorder {
  const rec = new Recorder().attach(p);
  recorders.push(rec);
  return rec;
}

afterEach(async () => {
  // Every listener of every test saw strictly increasing epochs.
  for (const rec of recorders.splice(0)) expectStrictlyIncreasing(rec.epochs());
  await Promise.all(providers.splice(0).map((p) => p.close()));
  await deleteClusterKeys(SHARED_REDIS_URL, names.splice(0));
});

async function joinThree(name: string, options: RedisMembershipOptions = {}) {
  const nodes = ['n1', 'n2', 'n3'].map(() => provider(name, options));
  const recs = nodes.map(record);
  const members = ['n1', 'n2', 'n3'].map((id) => member(id));
  await Promise.all(nodes.map((n, i) => n.join(members[i]!)));
  await waitFor('all see 3 members', () => nodes.every((n) => n.current().members.length === 3));
  return { nodes, recs, members };
}

describe('RedisMembership', () => {
  it('three nodes join and agree on one epoch and three members', async () => {
    const { nodes, recs } = await joinThree(cluster());
    await waitFor('same epoch everywhere', () => {
      const epochs = new Set(nodes.map((n) => n.current().epoch));
      return epochs.size === 1;
    });
    for (const n of nodes) {
      expect(ids(n.current())).toEqual(['n1', 'n2', 'n3']);
      expect(n.hasLease()).toBe(true);
    }
    // The latest epoch is what Redis holds.
    const fresh = await nodes[0]!.refresh();
    expect(fresh.epoch).toBe(nodes[1]!.current().epoch);
    for (const rec of recs) expect(rec.leaseLost).toEqual([]);
  });

  it('a planned leave reaches the others through pub/sub, long before any poll or heartbeat', async () => {
    // Heartbeat 5 s, poll 60 s: only pub/sub can deliver the change within the bound below.
    const { nodes, recs } = await joinThree(cluster(), {
      heartbeatIntervalMs: 5000,
      missedHeartbeats: 3,
    });
    const before = nodes[0]!.current().epoch;
    const leftAt = performance.now();
    await nodes[2]!.leave();
    await waitFor(
      'others see the leave',
      () => nodes[0]!.current().members.length === 2 && nodes[1]!.current().members.length === 2,
      2000,
    );
    expect(performance.now() - leftAt).toBeLessThan(2000);
    for (const n of nodes.slice(0, 2)) {
      expect(ids(n.current())).toEqual(['n1', 'n2']);
      expect(n.current().epoch).toBeGreaterThan(before);
    }
    // The leaver's listeners got the topology without it (to hand off by), then nothing more.
    expect(ids(recs[2]!.last()!)).toEqual(['n1', 'n2']);
    expect(recs[2]!.leaseLost).toEqual([]);
  });

  it('a node that stops heartbeating (close without leave) is removed after its lease', async () => {
    const { nodes } = await joinThree(cluster());
    const crashedAt = performance.now();
    await nodes[1]!.close();
    await waitFor(
      'crashed node removed',
      () => nodes[0]!.current().members.length === 2 && nodes[2]!.current().members.length === 2,
      5000,
    );
    const elapsed = performance.now() - crashedAt;
    // Its last renewal was at most one interval before the crash: not removed before that
    // renewal's lease (400 ms) ran out.
    expect(elapsed).toBeGreaterThanOrEqual(400 - 100 - 20);
    expect(ids(nodes[0]!.current())).toEqual(['n1', 'n3']);
    // Both survivors settle on one epoch (a reap by each may land a moment apart).
    await waitFor(
      'same epoch',
      () => nodes[0]!.current().epoch === nodes[2]!.current().epoch,
      5000,
    );
    expect(ids(nodes[2]!.current())).toEqual(['n1', 'n3']);
  });

  it('with pub/sub off, polling alone delivers changes (member and observer)', async () => {
    const name = cluster();
    const joined = provider(name, {
      subscribe: false,
      pollIntervalMs: 50,
      heartbeatIntervalMs: 5000,
      missedHeartbeats: 3,
    });
    const observer = provider(name, { subscribe: false, pollIntervalMs: 50 });
    const other = provider(name);
    record(joined);
    const recObserver = record(observer);
    await joined.join(member('a'));
    await observer.observe();
    await other.join(member('b'));
    await waitFor('polling sees the join', () => joined.current().members.length === 2, 2000);
    await waitFor('observer sees the join', () => observer.current().members.length === 2, 2000);
    await other.leave();
    await waitFor('polling sees the leave', () => joined.current().members.length === 1, 2000);
    await waitFor('observer sees the leave', () => observer.current().members.length === 1, 2000);
    expect(recObserver.leaseLost).toEqual([]);
  });

  it('refresh() without joining reads the topology once (for a status command)', async () => {
    const name = cluster();
    const a = provider(name);
    await a.join(member('a'));
    const status = provider(name);
    const topology = await status.refresh();
    expect(ids(topology)).toEqual(['a']);
    expect(topology.epoch).toBe(a.current().epoch);
    expect(status.hasLease()).toBe(false);
  });

  it('a lost publish is made up by the next poll', async () => {
    const name = cluster();
    const a = provider(name, {
      pollIntervalMs: 50,
      heartbeatIntervalMs: 5000,
      missedHeartbeats: 3,
    });
    await a.join(member('a'));
    // Change the registry behind everyone's back, without a publish (as if it were lost).
    const keys = membershipKeys(name);
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      const epoch = a.current().epoch + 1;
      await redis
        .multi()
        .hset(keys.members, 'ghost', JSON.stringify(member('ghost')))
        .zadd(keys.leases, Date.now() + 60_000, 'ghost')
        .hset(keys.meta, 'epoch', String(epoch))
        .exec();
      await waitFor('poll picks up the change', () => a.current().epoch === epoch, 2000);
      expect(ids(a.current())).toEqual(['a', 'ghost']);
    } finally {
      redis.disconnect();
    }
  });

  it('a newer incarnation of the same id supersedes the old process, which fences for good', async () => {
    const name = cluster();
    const old = provider(name);
    const recOld = record(old);
    await old.join(member('dup', 1000));
    const fresh = provider(name);
    await fresh.join(member('dup', 2000));
    await waitFor('old process fenced', () => recOld.leaseLost.length === 1, 2000);
    expect(old.hasLease()).toBe(false);
    // It does not fight back: the newer incarnation keeps the id.
    await new Promise((r) => setTimeout(r, 300));
    expect(fresh.current().members.map((m) => m.incarnation)).toEqual([2000]);
    expect(fresh.hasLease()).toBe(true);
    // An older incarnation cannot join at all.
    await expect(provider(name).join(member('dup', 500))).rejects.toThrow(/newer incarnation/);
  });

  it('waits out the recovery window on a fresh registry before the first topology', async () => {
    const name = cluster();
    const a = provider(name, { recoveryGraceMs: 300 });
    const rec = record(a);
    const started = performance.now();
    const topology = await a.join(member('a'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(ids(topology)).toEqual(['a']);
    expect(rec.epochs()).toEqual([topology.epoch]);
  });

  it('rejects bad configuration and members with clear errors', async () => {
    expect(() => new RedisMembership({ clusterName: 'a b' })).toThrow(/clusterName/);
    expect(() => new RedisMembership({ heartbeatIntervalMs: 0 })).toThrow(/heartbeatIntervalMs/);
    expect(() => new RedisMembership({ missedHeartbeats: 2 })).toThrow(/missedHeartbeats/);
    expect(() => new RedisMembership({ redisUrl: 'localhost:6379' })).toThrow(/redis:\/\//);
    const p = provider(cluster());
    await expect(p.join({ id: '', address: '127.0.0.1:1', incarnation: 1 })).rejects.toThrow(
      /member id/,
    );
    await expect(p.join({ id: 'x', address: '127.0.0.1', incarnation: 1 })).rejects.toThrow(
      /host:port/,
    );
  });

  it('join fails fast with a clear error when Redis is unreachable', async () => {
    const p = provider(cluster(), { redisUrl: 'redis://127.0.0.1:1' });
    await expect(p.join(member('a'))).rejects.toThrow(/cannot reach Redis/);
  });
});
