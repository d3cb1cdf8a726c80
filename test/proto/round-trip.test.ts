import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Envelope,
  ErrorCode,
  Frame,
  NodeTransportClient,
  NodeTransportService,
} from '../../proto/generated/gito/cluster/v1/cluster.ts';
import { PROTOCOL_VERSION } from '../../proto/protocol-version.ts';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

const oneOfEachKind: Envelope[] = [
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
  { reply: { correlationId: 12, payload: json({ ok: true, count: 3 }) } },
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
  { pong: { nonce: 99, sentUnixMs: 1_767_225_600_000 } },
];

const setKinds = (envelope: Envelope): string[] =>
  Object.entries(envelope)
    .filter(([, value]) => value !== undefined)
    .map(([kind]) => kind);

const hello = {
  nodeId: 'node-a',
  incarnation: 1_767_225_000_000,
  epoch: 7,
  protocolVersion: PROTOCOL_VERSION,
  placementHashVersion: 1,
};

describe('Frame encoding', () => {
  it('round-trips a frame holding one envelope of each kind, in order', () => {
    const frame: Frame = { envelopes: oneOfEachKind };
    const decoded = Frame.decode(Frame.encode(frame).finish());
    expect(decoded).toEqual(frame);
    // Exactly one oneof member is set on each decoded envelope (the others are undefined).
    expect(decoded.envelopes.map(setKinds)).toEqual(oneOfEachKind.map(setKinds));
    expect(decoded.envelopes.flatMap(setKinds)).toHaveLength(oneOfEachKind.length);
  });

  it('round-trips the opening Hello frame', () => {
    const frame: Frame = { hello, envelopes: [] };
    expect(Frame.decode(Frame.encode(frame).finish())).toEqual(frame);
  });

  it('decodes an empty frame to no hello and no envelopes', () => {
    expect(Frame.decode(Frame.encode({ envelopes: [] }).finish())).toEqual({ envelopes: [] });
  });

  it('keeps 64-bit fields exact up to 2^53 - 1 (forceLong=number)', () => {
    const frame: Frame = {
      envelopes: [{ reply: { correlationId: Number.MAX_SAFE_INTEGER, payload: Buffer.alloc(0) } }],
    };
    const [decoded] = Frame.decode(Frame.encode(frame).finish()).envelopes;
    expect(decoded?.reply?.correlationId).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('NodeTransport service over loopback', () => {
  const server = new Server();
  afterAll(() => server.forceShutdown());

  it('carries frames both ways on one Connect stream', async () => {
    // An echo peer: answers each frame with the same envelopes, after its own Hello.
    server.addService(NodeTransportService, {
      connect: (stream: ServerDuplexStream<Frame, Frame>) => {
        stream.write({ hello: { ...hello, nodeId: 'node-b' }, envelopes: [] });
        stream.on('data', (frame: Frame) => stream.write({ envelopes: frame.envelopes }));
        stream.on('end', () => stream.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const client = new NodeTransportClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const stream = client.connect();
      const received: Frame[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (frame: Frame) => {
          received.push(frame);
          if (received.length === 3) stream.end();
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      stream.write({ hello, envelopes: [] });
      stream.write({ envelopes: oneOfEachKind });
      await done;
      expect(received[0]?.hello?.nodeId).toBe('node-b');
      // Then the echo of our Hello frame (no envelopes), then the batch, intact and in order.
      expect(received[1]?.envelopes).toEqual([]);
      expect(received[2]?.envelopes).toEqual(oneOfEachKind);
    } finally {
      client.close();
    }
  });
});
