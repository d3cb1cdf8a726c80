import { describe, expect, it } from 'vitest';
import { TopologyFeed } from '../../../cluster/membership/feed.ts';
import { InMemoryMembership, InMemoryRegistry } from '../../../cluster/membership/memory.ts';
import type { Topology } from '../../../cluster/membership/types.ts';
import { InvalidMemberError, makeTopology } from '../../../cluster/membership/validate.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { expectStrictlyIncreasing, ids, member, Recorder } from './helpers.ts';

describe('InMemoryMembership', () => {
  it('serves one node: join includes it, epoch is at least the wall clock in ms', async () => {
    const before = Date.now();
    const node = new InMemoryMembership({ logger: silentLogger });
    const rec = new Recorder().attach(node);
    const topology = await node.join(member('solo'));
    expect(ids(topology)).toEqual(['solo']);
    expect(topology.epoch).toBeGreaterThanOrEqual(before);
    expect(node.current()).toBe(topology);
    expect(rec.epochs()).toEqual([topology.epoch]);
    expect(await node.refresh()).toBe(topology);
    expect(node.hasLease()).toBe(true);
    await node.close();
  });

  it('a restarted embedded process gets a higher epoch than the previous one', async () => {
    let now = 1_000;
    const first = new InMemoryMembership({ registry: new InMemoryRegistry(() => now) });
    const e1 = (await first.join(member('n'))).epoch;
    now = 2_000;
    const second = new InMemoryMembership({ registry: new InMemoryRegistry(() => now) });
    const e2 = (await second.join(member('n'))).epoch;
    expect(e2).toBeGreaterThan(e1);
  });

  it('runs several nodes on a shared registry: join, leave, epochs strictly increasing', async () => {
    const registry = new InMemoryRegistry();
    const nodes = ['a', 'b', 'c'].map(() => new InMemoryMembership({ registry }));
    const recs = nodes.map((n) => new Recorder().attach(n));
    for (const [i, id] of ['c', 'a', 'b'].entries()) await nodes[i]?.join(member(id));
    for (const node of nodes) expect(ids(node.current())).toEqual(['a', 'b', 'c']);
    const epoch = nodes[0]?.current().epoch ?? 0;
    expect(new Set(nodes.map((n) => n.current().epoch))).toEqual(new Set([epoch]));

    await nodes[1]?.leave();
    expect(ids(nodes[0]!.current())).toEqual(['b', 'c']);
    expect(nodes[0]!.current().epoch).toBeGreaterThan(epoch);
    // The leaver's last topology is the one without itself (to hand off by).
    expect(ids(nodes[1]!.current())).toEqual(['b', 'c']);
    for (const rec of recs) expectStrictlyIncreasing(rec.epochs());
  });

  it('expire fences the node before the others see it removed; rejoin restores it', async () => {
    const registry = new InMemoryRegistry();
    const a = new InMemoryMembership({ registry });
    const b = new InMemoryMembership({ registry });
    const order: string[] = [];
    a.onLeaseLost(() => order.push('a:leaseLost'));
    b.onChange((t) => order.push(`b:${ids(t).join(',')}`));
    const recA = new Recorder().attach(a);
    await a.join(member('a'));
    await b.join(member('b'));
    order.length = 0;

    registry.expire('a');
    expect(order).toEqual(['a:leaseLost', 'b:b']);
    expect(a.hasLease()).toBe(false);
    const removedEpoch = b.current().epoch;

    registry.rejoin('a');
    const next = recA.events.at(-1);
    expect(recA.events.at(-2)).toEqual({ kind: 'leaseLost' });
    expect(next?.kind === 'change' && ids(next.topology)).toEqual(['a', 'b']);
    expect(a.current().epoch).toBeGreaterThan(removedEpoch);
    expect(ids(b.current())).toEqual(['a', 'b']);
    expect(a.hasLease()).toBe(true);
  });

  it('close() is a crash: the member stays until it expires', async () => {
    const registry = new InMemoryRegistry();
    const a = new InMemoryMembership({ registry });
    const b = new InMemoryMembership({ registry });
    await a.join(member('a'));
    await b.join(member('b'));
    await a.close();
    expect(ids(b.current())).toEqual(['a', 'b']);
    registry.expire('a');
    expect(ids(b.current())).toEqual(['b']);
  });

  it('a newer incarnation of the same id replaces the old one, which is fenced', async () => {
    const registry = new InMemoryRegistry();
    const old = new InMemoryMembership({ registry });
    const fresh = new InMemoryMembership({ registry });
    let lost = 0;
    old.onLeaseLost(() => lost++);
    await old.join(member('n', 1000));
    const newer = member('n', 2000);
    await fresh.join(newer);
    expect(lost).toBe(1);
    expect(fresh.current().members).toEqual([newer]);
    await expect(new InMemoryMembership({ registry }).join(member('n', 500))).rejects.toThrow(
      /newer incarnation/,
    );
  });

  it('validates members with clear errors', async () => {
    const node = new InMemoryMembership();
    await expect(node.join({ id: 'bad id', address: 'h:1', incarnation: 1 })).rejects.toThrow(
      InvalidMemberError,
    );
    await expect(node.join({ id: 'x'.repeat(65), address: 'h:1', incarnation: 1 })).rejects.toThrow(
      /member id/,
    );
    await expect(node.join({ id: 'ok', address: 'nohost', incarnation: 1 })).rejects.toThrow(
      /host:port/,
    );
    await expect(node.join({ id: 'ok', address: 'h:70000', incarnation: 1 })).rejects.toThrow(
      /host:port/,
    );
    await expect(node.join({ id: 'ok', address: 'h:1', incarnation: 0 })).rejects.toThrow(
      /incarnation/,
    );
    const t = await node.join({ id: 'n-1.a_B', address: '[::1]:7001', incarnation: 5 });
    expect(ids(t)).toEqual(['n-1.a_B']);
    await expect(node.join(member('again'))).rejects.toThrow(/joined/);
  });
});

describe('TopologyFeed', () => {
  it('delivers in epoch order to every listener even when a listener causes a newer one', () => {
    const feed = new TopologyFeed(silentLogger);
    const seen: [string, number][] = [];
    feed.onChange((t) => {
      seen.push(['first', t.epoch]);
      if (t.epoch === 1) feed.offer(makeTopology(2, []));
    });
    feed.onChange(() => {
      throw new Error('listener bug');
    });
    feed.onChange((t: Topology) => seen.push(['second', t.epoch]));
    expect(feed.offer(makeTopology(1, []))).toBe(true);
    expect(feed.offer(makeTopology(2, []))).toBe(false);
    expect(feed.offer(makeTopology(1, []))).toBe(false);
    expect(seen).toEqual([
      ['first', 1],
      ['second', 1],
      ['first', 2],
      ['second', 2],
    ]);
  });
});
