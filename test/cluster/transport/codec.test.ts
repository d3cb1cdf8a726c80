import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeHelloFrame,
  envelopeSize,
  FIELDS,
  framedSize,
  writeFramedEnvelope,
} from '../../../cluster/transport/codec.ts';
import { FrameDecodeError, InvalidEnvelopeError } from '../../../cluster/transport/errors.ts';
import {
  Ask,
  type Envelope,
  Envelope as EnvelopeFns,
  ErrorReply,
  Frame,
  HandoffComplete,
  HandoffRequest,
  Ping,
  Pong,
  Reply,
  Tell,
} from '../../../proto/generated/gito/cluster/v1/cluster.ts';

/** Our encoding of a whole frame of envelopes. */
function encode(envelopes: readonly Envelope[]): Buffer {
  let total = 0;
  const sizes = envelopes.map((e) => {
    const size = envelopeSize(e);
    total += framedSize(size);
    return size;
  });
  const buf = Buffer.alloc(total);
  let pos = 0;
  envelopes.forEach((e, i) => {
    pos = writeFramedEnvelope(buf, pos, e, sizes[i]!);
  });
  expect(pos).toBe(total);
  return buf;
}

const reference = (envelopes: Envelope[]): Buffer =>
  Buffer.from(Frame.encode({ envelopes }).finish());

// Strings of every kind, lone surrogates included (both encoders write U+FFFD for them).
const text = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', minLength: 40, maxLength: 300 }),
);
const bytes = fc
  .oneof(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ minLength: 100, maxLength: 20_000 }))
  .map((a) => Buffer.from(a));
const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
const u64 = fc.oneof(fc.constant(0), fc.nat(300), fc.maxSafeNat());
const i64 = fc.oneof(fc.constant(0), fc.integer({ min: -1000, max: 1000 }), fc.maxSafeInteger());
const i32 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));

const tell = fc.record({ target: text, message: bytes, senderNode: text, hops: u32, epoch: u64 });
const ask = fc.record({
  target: text,
  message: bytes,
  senderNode: text,
  hops: u32,
  epoch: u64,
  correlationId: u64,
  deadlineUnixMs: i64,
});
const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  tell.map((m) => ({ tell: m })),
  ask.map((m) => ({ ask: m })),
  fc.record({ correlationId: u64, payload: bytes }).map((m) => ({ reply: m })),
  fc
    .record({ correlationId: u64, code: i32, message: text, errorName: text })
    .map((m) => ({ error: m })),
  fc
    .record({ epoch: u64, identities: fc.array(text, { maxLength: 5 }) })
    .map((m) => ({ handoffRequest: m })),
  fc
    .record({ epoch: u64, identities: fc.array(text, { maxLength: 5 }), all: fc.boolean() })
    .map((m) => ({ handoffComplete: m })),
  fc.record({ nonce: u64, sentUnixMs: i64 }).map((m) => ({ ping: m })),
  fc.record({ nonce: u64, sentUnixMs: i64 }).map((m) => ({ pong: m })),
);

describe('transport codec', () => {
  it('knows exactly the fields the generated code has (update codec.ts when the .proto grows)', () => {
    const keys = (o: object): string[] => Object.keys(o).sort();
    expect(keys(EnvelopeFns.fromPartial({}))).toEqual([...FIELDS.Envelope].sort());
    expect(keys(Tell.fromPartial({}))).toEqual([...FIELDS.Tell].sort());
    expect(keys(Ask.fromPartial({}))).toEqual([...FIELDS.Ask].sort());
    expect(keys(Reply.fromPartial({}))).toEqual([...FIELDS.Reply].sort());
    expect(keys(ErrorReply.fromPartial({}))).toEqual([...FIELDS.ErrorReply].sort());
    expect(keys(HandoffRequest.fromPartial({}))).toEqual([...FIELDS.HandoffRequest].sort());
    expect(keys(HandoffComplete.fromPartial({}))).toEqual([...FIELDS.HandoffComplete].sort());
    expect(keys(Ping.fromPartial({}))).toEqual([...FIELDS.Ping].sort());
    expect(keys(Pong.fromPartial({}))).toEqual([...FIELDS.Pong].sort());
    expect(keys(Frame.fromPartial({}))).toEqual([...FIELDS.Frame].sort());
  });

  it('encodes byte for byte like ts-proto, and decodes what ts-proto encodes', () => {
    fc.assert(
      fc.property(fc.array(envelope, { maxLength: 20 }), (envelopes) => {
        const ours = encode(envelopes);
        const theirs = reference(envelopes);
        expect(ours.equals(theirs)).toBe(true);
        // toEqual: ts-proto also lists the seven unset bodies as undefined.
        expect(decodeFrame(theirs)).toEqual(Frame.decode(theirs));
        expect(decodeFrame(ours).envelopes).toEqual(envelopes);
      }),
      { numRuns: 300 },
    );
  });

  it('measures exactly, including length prefixes that cross varint boundaries', () => {
    for (const n of [0, 1, 120, 125, 126, 127, 128, 16_370, 16_380, 16_383, 16_384, 70_000]) {
      const e: Envelope = { reply: { correlationId: 9, payload: Buffer.alloc(n, 1) } };
      const ours = encode([e]);
      expect(ours.length).toBe(framedSize(envelopeSize(e)));
      expect(ours.equals(reference([e]))).toBe(true);
    }
  });

  it('carries the Hello frame and skips fields it does not know (forward compatibility)', () => {
    const hello = {
      nodeId: 'node-a',
      incarnation: 1_767_225_600_000,
      epoch: 3,
      protocolVersion: 1,
      placementHashVersion: 1,
    };
    expect(decodeFrame(encodeHelloFrame(hello)).hello).toEqual(hello);

    const tellBody = Buffer.concat([
      Buffer.from(Tell.encode({ ...emptyTell(), target: 'x/1' }).finish()),
      Buffer.from([0x78, 0x05]), // field 15, varint 5
      Buffer.from([0x82, 0x01, 0x02, 0xaa, 0xbb]), // field 16, 2 bytes
      Buffer.from([0x8d, 0x01, 1, 2, 3, 4]), // field 17, fixed32
    ]);
    const envelopeBody = Buffer.concat([
      Buffer.from([0x0a, tellBody.length]),
      tellBody,
      Buffer.from([0x4a, 0x00]), // envelope field 9 (a future kind), empty
    ]);
    const frame = Buffer.concat([
      Buffer.from([0x12, envelopeBody.length]),
      envelopeBody,
      Buffer.from([0x19, 1, 2, 3, 4, 5, 6, 7, 8]), // frame field 3, fixed64
    ]);
    expect(decodeFrame(frame).envelopes).toEqual([{ tell: { ...emptyTell(), target: 'x/1' } }]);
    expect(Frame.decode(frame).envelopes[0]?.tell?.target).toBe('x/1');
  });

  it('refuses malformed frames with FrameDecodeError', () => {
    const good = reference([{ tell: { ...emptyTell(), target: 'device/a:1' } }]);
    for (let cut = 1; cut < good.length; cut++) {
      expect(() => decodeFrame(good.subarray(0, cut)), `cut at ${cut}`).toThrow(FrameDecodeError);
    }
    expect(() => decodeFrame(Buffer.from([0x13]))).toThrow(FrameDecodeError); // group wire type
    expect(() => decodeFrame(Buffer.from([0x12, 0x05, 0x0a]))).toThrow(FrameDecodeError);
  });

  it('refuses envelopes it cannot encode, at measuring time', () => {
    const bad: Array<[string, unknown]> = [
      ['no body', {}],
      ['two bodies', { ping: { nonce: 1, sentUnixMs: 0 }, pong: { nonce: 1, sentUnixMs: 0 } }],
      ['negative uint64', { ping: { nonce: -1, sentUnixMs: 0 } }],
      ['unsafe uint64', { ping: { nonce: 2 ** 60, sentUnixMs: 0 } }],
      ['fractional', { ping: { nonce: 1.5, sentUnixMs: 0 } }],
      ['uint32 overflow', { tell: { ...emptyTell(), hops: 2 ** 32 } }],
      ['bytes not a buffer', { tell: { ...emptyTell(), message: 'text' } }],
      ['string not a string', { tell: { ...emptyTell(), target: 42 } }],
    ];
    for (const [why, e] of bad) {
      expect(() => envelopeSize(e as Envelope), why).toThrow(InvalidEnvelopeError);
    }
  });
});

function emptyTell() {
  return { target: '', message: Buffer.alloc(0), senderNode: '', hops: 0, epoch: 0 };
}
