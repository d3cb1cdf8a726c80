import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { HASH_VERSION } from '../../../cluster/placement/index.ts';
import { envelopeSize, framedSize } from '../../../cluster/transport/codec.ts';
import {
  type Envelope,
  MessageTooLargeError,
  PeerBackpressureError,
  PeerRefusedError,
  SendToSelfError,
  TransportClosedError,
} from '../../../cluster/transport/index.ts';
import {
  ErrorCode,
  type Frame,
  type Hello,
  NodeTransportClient,
  NodeTransportService,
} from '../../../proto/generated/gito/cluster/v1/cluster.ts';
import { PROTOCOL_VERSION } from '../../../proto/protocol-version.ts';
import { closeAll, ping, seqTell, startNode, tick, waitFor } from './helpers.ts';

afterEach(closeAll);

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

const everyKind: Envelope[] = [
  {
    tell: {
      target: 'device/acme:pump-17',
      message: json({ type: 'telemetry', metric: 'temp', value: 21.5 }),
      senderNode: 'node-a',
      hops: 1,
      epoch: 7,
    },
  },
  {
    ask: {
      target: 'rule/acme:42',
      message: json({ type: 'status' }),
      senderNode: 'node-a',
      hops: 0,
      epoch: 7,
      correlationId: 2 ** 53 - 1,
      deadlineUnixMs: 1_767_225_600_123,
    },
  },
  { reply: { correlationId: 12, payload: json({ ok: true }) } },
  {
    error: {
      correlationId: 13,
      code: ErrorCode.ERROR_CODE_MAILBOX_FULL,
      message: 'mailbox of device/acme:pump-17 is full (capacity 1000); message rejected',
      errorName: 'MailboxFullError',
    },
  },
  { handoffRequest: { epoch: 8, identities: ['device/acme:pump-17', 'rule/acme:42'] } },
  { handoffComplete: { epoch: 8, identities: ['device/acme:pump-17'], all: true } },
  { ping: { nonce: 99, sentUnixMs: 1_767_225_600_000 } },
  { pong: { nonce: 99, sentUnixMs: -5 } },
];

function helloFrom(nodeId: string, overrides: Partial<Hello> = {}): Frame {
  return {
    hello: {
      nodeId,
      incarnation: 1,
      epoch: 1,
      protocolVersion: PROTOCOL_VERSION,
      placementHashVersion: HASH_VERSION,
      ...overrides,
    },
    envelopes: [],
  };
}

/** A bare gRPC client speaking the generated contract, to play a misbehaving peer. */
function rawDial(address: string, first: Frame) {
  const client = new NodeTransportClient(address, credentials.createInsecure());
  const call = client.connect();
  const frames: Frame[] = [];
  call.on('data', (f: Frame) => frames.push(f));
  call.on('error', () => {});
  const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  call.write(first);
  return { client, call, frames, ended };
}

/** A bare gRPC server speaking the generated contract, answering every stream with `answer`. */
async function rawServe(answer: (call: ServerDuplexStream<Frame, Frame>) => void) {
  const server = new Server();
  server.addService(NodeTransportService, {
    connect(call: ServerDuplexStream<Frame, Frame>) {
      call.on('error', () => {});
      call.once('data', () => answer(call));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

describe('Transport', () => {
  it('carries every envelope kind both ways and introduces peers with Hello', async () => {
    const a = await startNode('node-a', { epoch: () => 5 });
    const b = await startNode('node-b', { epoch: () => 6 });
    for (const e of everyKind) a.transport.send(b.peer, e);
    b.transport.sendMany(a.peer, everyKind);
    await waitFor(
      () => a.received.length === everyKind.length && b.received.length === everyKind.length,
      'both sides to receive',
    );
    expect(b.received.map((r) => r.envelope)).toEqual(everyKind);
    expect(a.received.map((r) => r.envelope)).toEqual(everyKind);
    expect(b.received.every((r) => r.from === 'node-a')).toBe(true);
    expect(a.received.every((r) => r.from === 'node-b')).toBe(true);
    // b heard a's Hello on a's stream, and b's Hello on b's own stream to a, and vice versa.
    expect(b.hellos).toContainEqual({
      nodeId: 'node-a',
      incarnation: expect.any(Number),
      epoch: 5,
    });
    expect(a.hellos.map((h) => [h.nodeId, h.epoch])).toContainEqual(['node-b', 6]);
    const stats = a.transport.stats();
    expect(stats.outbound['node-b']).toMatchObject({ state: 'ready', queued: 0, envelopesSent: 8 });
    expect(stats.inbound['node-b']).toMatchObject({ streams: 1, envelopesReceived: 8 });
    expect(stats.envelopesReceived).toBe(8);
    expect(stats.bytesSent).toBeGreaterThan(0);
  });

  it('keeps order within a peer stream for 100,000 envelopes', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const n = 100_000;
    for (let i = 1; i <= n; i++) a.transport.send(b.peer, ping(i));
    await waitFor(() => b.received.length === n, '100k envelopes', 15_000);
    let inOrder = true;
    for (let i = 0; i < n; i++) if (b.received[i]!.envelope.ping!.nonce !== i + 1) inOrder = false;
    expect(inOrder).toBe(true);
    // Batched: 100 frames of maxBatch (1000) envelopes.
    expect(b.batches.length).toBe(100);
    expect(a.transport.stats().framesSent).toBe(100);
  });

  it('flushes a partial batch on the next tick', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    a.transport.send(b.peer, ping(1));
    await waitFor(() => b.received.length === 1, 'first envelope'); // connects, then flushes
    a.transport.send(b.peer, ping(2));
    a.transport.send(b.peer, ping(3));
    await waitFor(() => b.received.length === 3, 'two more');
    expect(b.batches.map((batch) => batch.length)).toEqual([1, 2]);
  });

  it('splits large batches so that no frame exceeds maxFrameBytes', async () => {
    const maxFrameBytes = 2048;
    const a = await startNode('node-a', { maxFrameBytes });
    const b = await startNode('node-b', { maxFrameBytes }); // refuses larger frames itself
    const sent: Envelope[] = [];
    for (let i = 0; i < 1000; i++) sent.push(seqTell(i, 50 + (i % 7) * 40));
    a.transport.sendMany(b.peer, sent);
    await waitFor(() => b.received.length === sent.length, 'all envelopes');
    expect(b.received.map((r) => r.envelope)).toEqual(sent);
    const frameSizes = b.batches.map((batch) =>
      batch.reduce((sum, e) => sum + framedSize(envelopeSize(e)), 0),
    );
    expect(frameSizes.length).toBeGreaterThan(100);
    expect(Math.max(...frameSizes)).toBeLessThanOrEqual(maxFrameBytes);
    // Frames are filled, not cut early: all but the last take more than maxFrameBytes - 1 envelope.
    expect(Math.min(...frameSizes.slice(0, -1))).toBeGreaterThan(maxFrameBytes - 400);
  });

  it('refuses an envelope larger than a frame with MessageTooLargeError, sending what fits', async () => {
    const maxFrameBytes = 4096;
    const a = await startNode('node-a', { maxFrameBytes });
    const b = await startNode('node-b', { maxFrameBytes });
    const tooBig = seqTell(1, 5000);
    let error: unknown;
    try {
      a.transport.send(b.peer, tooBig);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MessageTooLargeError);
    const e = error as MessageTooLargeError;
    expect(e.peer).toBe('node-b');
    expect(e.size).toBe(framedSize(envelopeSize(tooBig)));
    expect(e.maxFrameBytes).toBe(maxFrameBytes);
    expect(e.message).toContain('tell to seq/1 for peer node-b is 50');
    expect(e.message).toContain('more than maxFrameBytes 4096');
    expect(a.transport.queued('node-b')).toBe(0);

    // An envelope of exactly maxFrameBytes goes through (and the receiver accepts the frame).
    let payload = 4000;
    while (framedSize(envelopeSize(seqTell(2, payload + 1))) <= maxFrameBytes) payload++;
    const exact = seqTell(2, payload);
    expect(framedSize(envelopeSize(exact))).toBe(maxFrameBytes);
    a.transport.send(b.peer, exact);
    // In sendMany one oversize envelope refuses the whole call.
    expect(() => a.transport.sendMany(b.peer, [ping(1), tooBig])).toThrow(MessageTooLargeError);
    await waitFor(() => b.received.length === 1, 'the exact-size envelope');
    expect(b.received[0]!.envelope).toEqual(exact);
  });

  it('bounds the queue of an unreachable peer, then hands unsent envelopes back on disconnect', async () => {
    const a = await startNode('node-a', { maxQueuedPerPeer: 2500 });
    const nowhere = await rawServe(() => {});
    nowhere.server.forceShutdown(); // a port that refuses connections
    const peer = { id: 'node-x', address: nowhere.address };
    for (let i = 1; i <= 2500; i++) a.transport.send(peer, ping(i));
    expect(() => a.transport.send(peer, ping(2501))).toThrow(PeerBackpressureError);
    try {
      a.transport.sendMany(peer, [ping(2501)]);
    } catch (err) {
      expect(err).toBeInstanceOf(PeerBackpressureError);
      expect((err as PeerBackpressureError).message).toBe(
        'peer node-x is backpressured: 2500 envelopes queued (limit 2500); message rejected',
      );
    }
    await waitFor(
      () => a.transport.stats().outbound['node-x']?.state === 'backoff',
      'a failed dial',
    );
    const unsent = a.transport.disconnect('node-x');
    expect(unsent.map((e) => e.ping!.nonce)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(a.transport.stats().outbound['node-x']).toBeUndefined();
    expect(a.transport.disconnect('node-x')).toEqual([]);
  });

  it('bounds queued bytes too', async () => {
    const a = await startNode('node-a', { maxQueuedBytesPerPeer: 10_000 });
    const peer = { id: 'node-x', address: '127.0.0.1:1' };
    let sent = 0;
    expect(() => {
      for (; sent < 1000; sent++) a.transport.send(peer, seqTell(sent, 1000));
    }).toThrow(/backpressured: \d+ bytes queued \(limit 10000\)/);
    expect(sent).toBe(9);
    a.transport.disconnect('node-x');
  });

  it('sends queued envelopes once a peer that was down comes up, and reconnects after a restart', async () => {
    const a = await startNode('node-a', { reconnectMaxMs: 200 });
    const b1 = await startNode('node-b');
    a.transport.send(b1.peer, ping(1));
    await waitFor(() => b1.received.length === 1, 'first envelope');
    await b1.transport.close();
    await waitFor(
      () => a.transport.stats().outbound['node-b']?.state !== 'ready',
      'the stream to end',
    );
    for (let i = 2; i <= 1000; i++) a.transport.send(b1.peer, ping(i));
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few failed redials
    const port = b1.address.split(':')[1];
    const b2 = await startNode('node-b', { listen: `127.0.0.1:${port}` });
    await waitFor(() => b2.received.length === 999, 'the queued envelopes');
    expect(b2.received.map((r) => r.envelope.ping!.nonce)).toEqual(
      Array.from({ length: 999 }, (_, i) => i + 2),
    );
    const stats = a.transport.stats().outbound['node-b']!;
    expect(stats.reconnects).toBe(1);
    expect(a.hellos.filter((h) => h.nodeId === 'node-b')).toHaveLength(2);
    expect(a.lines.some((l) => l.msg === 'stream to peer re-established')).toBe(true);
  });

  it('refuses a peer whose protocol or placement hash version differs (serving side)', async () => {
    const b = await startNode('node-b');
    const cases: Array<[Partial<Hello>, string]> = [
      [
        { protocolVersion: PROTOCOL_VERSION + 1 },
        `speaks protocol version ${PROTOCOL_VERSION + 1}`,
      ],
      [{ placementHashVersion: HASH_VERSION + 1 }, `placement hash version ${HASH_VERSION + 1}`],
      [{ nodeId: 'node-b' }, 'claims our own node id'],
    ];
    for (const [overrides, reason] of cases) {
      const peer = rawDial(b.address, helloFrom('node-old', overrides));
      const s = await peer.ended;
      expect(s.code).toBe(status.FAILED_PRECONDITION);
      expect(s.details).toContain('node-b refused the stream');
      expect(s.details).toContain(reason);
      expect(peer.frames).toEqual([]); // no Hello back
      peer.client.close();
    }
    // Envelopes before a Hello: refused as well.
    const noHello = rawDial(b.address, { envelopes: [ping(1)] });
    expect((await noHello.ended).code).toBe(status.FAILED_PRECONDITION);
    noHello.client.close();
    expect(b.received).toEqual([]);
    const refusals = b.lines.filter(
      (l) => l.level === 'error' && l.msg === 'refused inbound stream',
    );
    expect(refusals).toHaveLength(4);
    expect(String(refusals[0]!.fields.reason)).toContain('protocol version');
    expect(b.transport.stats().refusals).toBe(4);
  });

  it('refuses a peer whose Hello does not fit (dialling side), and says why on send', async () => {
    const a = await startNode('node-a', { reconnectMaxMs: 100 });
    const cases: Array<[(call: ServerDuplexStream<Frame, Frame>) => void, RegExp]> = [
      [
        (call) => call.write(helloFrom('node-x', { protocolVersion: PROTOCOL_VERSION + 1 })),
        /node-x speaks protocol version 2, node-a speaks 1/,
      ],
      [
        (call) => call.write(helloFrom('node-x', { placementHashVersion: HASH_VERSION + 7 })),
        /placement hash version 8/,
      ],
      [(call) => call.write(helloFrom('node-y')), /expected node node-x but node-y answered/],
      [
        (call) => call.emit('error', { code: status.FAILED_PRECONDITION, details: 'go away' }),
        /go away/,
      ],
    ];
    for (const [answer, reason] of cases) {
      const x = await rawServe(answer);
      const peer = { id: 'node-x', address: x.address };
      a.transport.send(peer, ping(1));
      await waitFor(
        () => a.transport.stats().outbound['node-x']?.refused !== undefined,
        'the refusal',
      );
      expect(a.transport.stats().outbound['node-x']!.refused).toMatch(reason);
      expect(() => a.transport.send(peer, ping(2))).toThrow(PeerRefusedError);
      expect(() => a.transport.send(peer, ping(2))).toThrow(reason);
      expect(a.transport.disconnect('node-x').length).toBe(1);
      x.server.forceShutdown();
    }
    expect(a.lines.filter((l) => l.level === 'error')).toHaveLength(4);
  });

  it('closes a stream that carries a malformed frame, and says so', async () => {
    const b = await startNode('node-b');
    const client = new Client(b.address, credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      NodeTransportService.connect.path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
    );
    call.on('data', () => {});
    call.on('error', () => {});
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    call.write(NodeTransportService.connect.requestSerialize(helloFrom('node-z')));
    call.write(Buffer.from([0x12, 0x05, 0x0a])); // an envelope cut short
    expect((await ended).code).toBe(status.INTERNAL);
    client.close();
    expect(b.lines.some((l) => l.msg === 'malformed frame; stream closed')).toBe(true);
    expect(b.received).toEqual([]);
  });

  it('delivers what arrives on a stream it dialled, too (replies on the same stream)', async () => {
    const a = await startNode('node-a');
    const x = await rawServe((call) => {
      call.write(helloFrom('node-x'));
      call.write({ envelopes: [ping(7), ping(8)] });
    });
    a.transport.send({ id: 'node-x', address: x.address }, ping(1));
    await waitFor(() => a.received.length === 2, 'the replies');
    expect(a.received).toEqual([
      { from: 'node-x', envelope: ping(7) },
      { from: 'node-x', envelope: ping(8) },
    ]);
    x.server.forceShutdown();
  });

  it('flushes on close, then refuses sends', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    a.transport.send(b.peer, ping(1));
    await waitFor(() => b.received.length === 1, 'connection');
    for (let i = 2; i <= 5000; i++) a.transport.send(b.peer, ping(i));
    await a.transport.close();
    expect(b.received).toHaveLength(5000); // all read by b before close resolved
    expect(() => a.transport.send(b.peer, ping(1))).toThrow(TransportClosedError);
    expect(a.lines.some((l) => l.msg === 'transport closed with unsent envelopes')).toBe(false);
  });

  it('drops, and reports, what it cannot flush by closeTimeoutMs', async () => {
    const a = await startNode('node-a', { closeTimeoutMs: 200 });
    a.transport.send({ id: 'node-x', address: '127.0.0.1:1' }, ping(1));
    const t0 = Date.now();
    await a.transport.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    const warning = a.lines.find((l) => l.msg === 'transport closed with unsent envelopes');
    expect(warning?.fields).toMatchObject({ dropped: 1, perPeer: { 'node-x': 1 } });
  });

  it('survives a throwing handler and refuses sends to itself', async () => {
    let calls = 0;
    const a = await startNode('node-a');
    const b = await startNode(
      'node-b',
      {},
      {
        onEnvelopes() {
          calls++;
          if (calls === 1) throw new Error('handler bug');
        },
      },
    );
    a.transport.send(b.peer, ping(1));
    await waitFor(() => b.received.length === 1, 'first');
    a.transport.send(b.peer, ping(2));
    await waitFor(() => b.received.length === 2, 'second');
    expect(b.lines.some((l) => l.msg === 'onEnvelopes handler threw; the stream carries on')).toBe(
      true,
    );
    expect(() => a.transport.send(a.peer, ping(1))).toThrow(SendToSelfError);
  });

  it('raises the inbound HTTP/2 window (grpc-js internals still as expected)', async () => {
    const b = await startNode('node-b');
    expect(b.lines.some((l) => l.msg.includes('cannot raise the inbound HTTP/2 window'))).toBe(
      false,
    );
    await tick();
  });
});
