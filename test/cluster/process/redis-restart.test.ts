import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../db/helpers.ts';
import { OwnRedis } from '../membership/helpers.ts';
import { Load, ProcessCluster } from './harness.ts';

/**
 * Redis restarted (data lost: no persistence) while the cluster is under load. Nodes keep their
 * last topology, self-fence when their lease runs out, re-register when Redis is back, and the
 * cluster converges again with every ask answered or failed with a typed error.
 */
let db: { url: string; drop(): Promise<void> };
let redis: OwnRedis;
let cluster: ProcessCluster | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await OwnRedis.start();
});
afterAll(async () => {
  await cluster?.close();
  await redis.kill();
  await db.drop();
});

describe('Redis restart under load (real processes)', () => {
  it('survives: nodes re-register, converge, and lose no acknowledged state', async () => {
    cluster = new ProcessCluster(redis.url, db.url);
    const targets = Array.from({ length: 200 }, (_, i) => `counted/r-${i}`);
    const [a] = await Promise.all([cluster.start('a'), cluster.start('b'), cluster.start('c')]);
    await cluster.converged(['a', 'b', 'c']);
    const before = await cluster.state(a!);
    const load = new Load(cluster, targets);
    await new Promise((r) => setTimeout(r, 400));
    const all = [...cluster.nodes.values()];
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1_000));
    await redis.start();
    const after = await cluster.converged(['a', 'b', 'c'], 30_000);
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();

    expect(after).toBeGreaterThan(before.epoch);
    const typed = new Set(['AskTimeoutError', 'PeerLostError', 'MailboxFullError']);
    const untyped = load.results.filter((r) => !r.ok && !typed.has(r.error ?? ''));
    expect(untyped, JSON.stringify(untyped.slice(0, 5))).toEqual([]);
    expect(load.acked).toBeGreaterThan(0);
    let total = 0;
    for (const target of targets) {
      const r = await cluster.ask(a!, target, { type: 'get' }, 10_000);
      expect(r.ok, `${target}: ${r.error} ${r.message}`).toBe(true);
      total += r.value as number;
    }
    const failed = load.results.filter((r) => !r.ok).length;
    expect(total).toBeGreaterThanOrEqual(load.acked);
    expect(total).toBeLessThanOrEqual(load.acked + failed + load.unknown);
    cluster.checkSingleActivation(all);
  });
});
