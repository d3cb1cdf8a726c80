import { afterEach, describe, expect, it } from 'vitest';
import { PeerBackpressureError } from '../../../cluster/transport/index.ts';
import { ChildPeer, closeAll, seqTell, startNode, tick, waitFor } from './helpers.ts';

const children: ChildPeer[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
  await closeAll();
});

async function startPeer(nodeId: string, listen?: string): Promise<ChildPeer> {
  const peer = await ChildPeer.start(nodeId, listen);
  children.push(peer);
  return peer;
}

describe('Transport with a peer in another process', () => {
  it('reconnects after the peer is killed and restarted; what was queued meanwhile arrives', async () => {
    const a = await startNode('node-a', { reconnectMaxMs: 200 });
    const p1 = await startPeer('node-p');
    const peer = { id: 'node-p', address: p1.address };
    for (let i = 1; i <= 1000; i++) a.transport.send(peer, seqTell(i));
    expect(await p1.waitForReceived(1000)).toMatchObject({ received: 1000, first: 1, last: 1000 });

    await p1.kill(); // SIGKILL: no goodbye, the kernel resets the connection
    await waitFor(
      () => a.transport.stats().outbound['node-p']!.state !== 'ready',
      'the broken stream to be noticed',
    );
    // Queued while the peer is down: these must all arrive, in order, after the restart.
    for (let i = 2001; i <= 2500; i++) a.transport.send(peer, seqTell(i));
    expect(a.transport.queued('node-p')).toBe(500);

    const p2 = await startPeer('node-p', p1.address); // same address, new incarnation
    expect(p2.incarnation).not.toBe(p1.incarnation);
    const afterRestart = await p2.waitForReceived(500);
    expect(afterRestart).toMatchObject({ received: 500, first: 2001, last: 2500, breaks: 0 });

    for (let i = 2501; i <= 3000; i++) a.transport.send(peer, seqTell(i));
    expect(await p2.waitForReceived(1000)).toMatchObject({ last: 3000, breaks: 0 });

    const stats = a.transport.stats().outbound['node-p']!;
    expect(stats).toMatchObject({ state: 'ready', reconnects: 1, incarnation: p2.incarnation });
    expect(a.hellos.map((h) => h.incarnation)).toEqual([p1.incarnation, p2.incarnation]);
    expect(
      a.lines.some((l) => l.level === 'warn' && l.msg === 'stream to peer lost; reconnecting'),
    ).toBe(true);
  });

  it('queues up to maxQueuedPerPeer behind a stalled receiver, then refuses; all queued arrives after', async () => {
    const maxQueuedPerPeer = 20_000;
    const a = await startNode('node-a', { maxQueuedPerPeer });
    const p = await startPeer('node-p');
    const peer = { id: 'node-p', address: p.address };
    a.transport.send(peer, seqTell(0, 200));
    await p.waitForReceived(1);

    await p.stall(3000); // the peer's event loop is blocked from now on
    let accepted = 1;
    let refused: PeerBackpressureError | undefined;
    const started = Date.now();
    while (refused === undefined && Date.now() - started < 2500) {
      try {
        for (let k = 0; k < 1000; k++) {
          a.transport.send(peer, seqTell(accepted, 200));
          accepted++;
        }
      } catch (err) {
        if (!(err instanceof PeerBackpressureError)) throw err;
        refused = err;
      }
      await tick(); // let the transport write, as a real producer would
    }
    expect(refused, 'PeerBackpressureError while the peer stalls').toBeInstanceOf(
      PeerBackpressureError,
    );
    expect(refused!.peer).toBe('node-p');
    expect(refused!.limit).toBe(maxQueuedPerPeer);
    const queued = a.transport.queued('node-p');
    expect(queued).toBe(maxQueuedPerPeer);
    // What left the queue is in gRPC's and the kernel's buffers: bounded by the HTTP/2 window
    // (1 MiB), the 4 frames handed to gRPC and the socket buffers, not by the producer.
    const inFlight = accepted - queued;
    expect(inFlight).toBeGreaterThan(0);
    expect(inFlight * 250).toBeLessThan(16 * 1024 * 1024);

    // Once the peer resumes, everything accepted arrives, in order, and the queue empties.
    const s = await p.waitForReceived(accepted, 15_000);
    expect(s).toMatchObject({ received: accepted, first: 0, last: accepted - 1, breaks: 0 });
    await waitFor(() => a.transport.queued('node-p') === 0, 'the queue to drain');
    a.transport.send(peer, seqTell(accepted, 200));
    expect((await p.waitForReceived(accepted + 1)).breaks).toBe(0);
  });

  it('notices a frozen peer by keepalive (no reset, no FIN) and resumes when it thaws', async () => {
    const a = await startNode('node-a', {
      keepaliveMs: 200,
      keepaliveTimeoutMs: 200,
      reconnectMaxMs: 200,
      handshakeTimeoutMs: 300,
    });
    const p = await startPeer('node-p');
    const peer = { id: 'node-p', address: p.address };
    a.transport.send(peer, seqTell(1));
    await p.waitForReceived(1);
    p.child.kill('SIGSTOP');
    try {
      const frozenAt = Date.now();
      await waitFor(
        () => a.transport.stats().outbound['node-p']!.state !== 'ready',
        'keepalive to drop the connection',
        5000,
      );
      expect(Date.now() - frozenAt).toBeLessThan(3000);
      expect(a.transport.stats().streamFailures).toBe(1);
      for (let i = 2; i <= 100; i++) a.transport.send(peer, seqTell(i));
    } finally {
      p.child.kill('SIGCONT');
    }
    // Frames written before the freeze was noticed may be lost (at most once); what was queued
    // after it arrives once the peer answers again.
    await waitFor(() => a.transport.stats().outbound['node-p']!.state === 'ready', 'reconnect');
    const s = await p.waitForReceived(100);
    expect(s).toMatchObject({ received: 100, last: 100, breaks: 0 });
  });
});
