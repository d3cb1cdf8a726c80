import { afterEach, describe, expect, it } from 'vitest';
import { assertSingleActivation, type TestCluster, testCluster, until } from './harness.ts';

let cluster: TestCluster;
afterEach(async () => {
  for (const node of cluster.nodes.values()) await node.close();
});

const ids = (n: number) => Array.from({ length: n }, (_, i) => `counted/c${i}`);

describe('cluster node routing and handoff (in-process transport)', () => {
  it('places every identity on exactly one node and reaches it from any node', async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    const c = await cluster.add('c');
    await until(() => [a, b, c].every((n) => n.settled && n.currentEpoch === 3));
    const from = [a, b, c];
    for (const [i, id] of ids(60).entries()) {
      expect(await from[i % 3]!.system.ask(id, { type: 'add', by: 1 })).toBe(1);
    }
    for (const id of ids(60)) {
      const hosts = [a, b, c].filter((n) => n.system.isActive(id));
      expect(hosts.map((n) => n.nodeId)).toEqual([a.ownerOf(id)]);
    }
    expect(new Set(ids(60).map((id) => a.ownerOf(id))).size).toBe(3);
    assertSingleActivation(cluster.events);
  });

  it('carries typed errors back to the asker', async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    await until(() => a.settled && b.settled && a.currentEpoch === 2);
    const remote = ids(20).find((id) => a.ownerOf(id) === 'b')!;
    const err = await a.system.ask(remote, { type: 'nope' }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('UnknownMessageError');
    const rejected = await a.system.ask('nosuchkind/x', { type: 'x' }).catch((e: unknown) => e);
    expect((rejected as Error).name).toMatch(/UnknownKindError/);
  });

  it('moves identities to a joining node with state intact and never runs one twice', async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    await until(() => a.settled && b.settled && a.currentEpoch === 2);
    for (const id of ids(200)) await a.system.ask(id, { type: 'add', by: 1 });
    // Keep load going while a third node joins.
    let stop = false;
    let acked = 0;
    const load = (async () => {
      let i = 0;
      while (!stop) {
        const id = `counted/c${i++ % 200}`;
        await a.system.ask(id, { type: 'add', by: 1 }).then(() => acked++);
      }
    })();
    const c = await cluster.add('c');
    await until(() => [a, b, c].every((n) => n.settled && n.currentEpoch === 3));
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await load;
    const totals = await Promise.all(
      ids(200).map((id) => b.system.ask<number>(id, { type: 'get' })),
    );
    expect(totals.reduce((s, t) => s + t, 0)).toBe(200 + acked);
    expect(ids(200).some((id) => c.system.isActive(id))).toBe(true);
    for (const id of ids(200)) {
      expect([a, b, c].filter((n) => n.system.isActive(id)).length).toBeLessThanOrEqual(1);
    }
    assertSingleActivation(cluster.events);
  });

  it('hands everything off on a planned leave', async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    const c = await cluster.add('c');
    await until(() => [a, b, c].every((n) => n.settled && n.currentEpoch === 3));
    for (const id of ids(150)) await a.system.ask(id, { type: 'add', by: 2 });
    const onC = ids(150).filter((id) => c.system.isActive(id));
    expect(onC.length).toBeGreaterThan(0);
    await c.leave();
    cluster.nodes.delete('c');
    await until(() => [a, b].every((n) => n.settled && n.currentEpoch === 4));
    for (const id of ids(150)) expect(await a.system.ask(id, { type: 'get' })).toBe(2);
    assertSingleActivation(cluster.events);
  });

  it("takes over a crashed node's identities once membership drops it, from saved state", async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    const c = await cluster.add('c');
    await until(() => [a, b, c].every((n) => n.settled && n.currentEpoch === 3));
    for (const id of ids(150)) await a.system.ask(id, { type: 'add', by: 3 });
    // c dies: it stops answering and, once its lease expires, membership removes it.
    cluster.network.dead.add('c');
    await c.close();
    cluster.nodes.delete('c');
    cluster.registry.change(() => cluster.registry.members.delete('c'));
    await until(() => [a, b].every((n) => n.settled && n.currentEpoch === 4));
    for (const id of ids(150)) expect(await b.system.ask(id, { type: 'get' })).toBe(3);
  });

  it('forwards a message that reached a non-owner, and refuses it beyond the hop limit', async () => {
    cluster = testCluster();
    const a = await cluster.add('a');
    const b = await cluster.add('b');
    const c = await cluster.add('c');
    await until(() => [a, b, c].every((n) => n.settled && n.currentEpoch === 3));
    const onC = ids(60).find((id) => a.ownerOf(id) === 'c')!;
    const message = (by: number) => Buffer.from(JSON.stringify({ type: 'add', by }));
    // b believed a owned it (an older topology): a forwards it to c.
    a.onEnvelopes('b', [
      { tell: { target: onC, message: message(5), senderNode: 'b', hops: 0, epoch: 3 } },
    ]);
    await until(() => c.system.isActive(onC));
    expect(await a.system.ask(onC, { type: 'get' })).toBe(5);
    expect(a.stats.forwarded).toBe(1);
    // The same after four hops: refused and counted, never processed.
    a.onEnvelopes('b', [
      { tell: { target: onC, message: message(100), senderNode: 'b', hops: 4, epoch: 3 } },
    ]);
    await new Promise((r) => setTimeout(r, 20));
    expect(a.stats.hopLimited).toBe(1);
    expect(await a.system.ask(onC, { type: 'get' })).toBe(5);
  });
});
