import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur3_32, murmur3_32Utf8 } from '../../../cluster/placement/murmur3.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/**
 * Known answers of MurmurHash3_x86_32. They match the reference C code (smhasher
 * MurmurHash3.cpp, compiled and run against these inputs) and the test vectors published with it.
 */
const knownAnswers: ReadonlyArray<readonly [input: string, seed: number, hash: number]> = [
  ['', 0, 0x00000000],
  ['', 1, 0x514e28b7],
  ['', 0xffffffff, 0x81f16f39],
  ['\0\0\0\0', 0, 0x2362f9de],
  ['a', 0x9747b28c, 0x7fa09ea6],
  ['aa', 0x9747b28c, 0x5d211726],
  ['aaa', 0x9747b28c, 0x283e0130],
  ['aaaa', 0x9747b28c, 0x5a97808a],
  ['ab', 0x9747b28c, 0x74875592],
  ['abc', 0, 0xb3dd93fa],
  ['abc', 0x9747b28c, 0xc84a62dd],
  ['abcd', 0x9747b28c, 0xf0478627],
  ['Hello, world!', 0x9747b28c, 0x24884cba],
  ['ππππππππ', 0x9747b28c, 0xd58063c1],
  ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ['device/acme:pump-17', 0, 0xb8112276],
];

describe('murmur3_32 (MurmurHash3 x86_32)', () => {
  it.each(knownAnswers)('hashes %j with seed %i to its known answer', (input, seed, hash) => {
    expect(murmur3_32(utf8(input), seed)).toBe(hash);
    expect(murmur3_32Utf8(input, seed)).toBe(hash);
  });

  it("passes smhasher's verification test (0xB0F57EE3)", () => {
    // Hash {}, {0}, {0,1}, ... {0..254} with seed 256 - length, then hash the 256 little-endian
    // results with seed 0: the reference's own check that an implementation is exact.
    const key = Uint8Array.from({ length: 256 }, (_, i) => i);
    const results = new DataView(new ArrayBuffer(256 * 4));
    for (let length = 0; length < 256; length++) {
      results.setUint32(length * 4, murmur3_32(key.subarray(0, length), 256 - length), true);
    }
    expect(murmur3_32(new Uint8Array(results.buffer), 0)).toBe(0xb0f57ee3);
  });

  it('hashes a string exactly as its UTF-8 bytes, for any text', () => {
    const anyCodeUnit = fc
      .integer({ min: 0, max: 0xffff })
      .map((unit) => String.fromCharCode(unit));
    const text = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 64 }),
      fc.string({ unit: 'binary', maxLength: 64 }),
      // Lone surrogates: encoded as U+FFFD, like TextEncoder does.
      fc.string({ unit: anyCodeUnit, maxLength: 64 }),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 0xffffffff }), (input, seed) => {
        expect(murmur3_32Utf8(input, seed)).toBe(murmur3_32(utf8(input), seed));
      }),
      { numRuns: 2000 },
    );
  });

  it('hashes long non-ASCII text (beyond the reused encode buffer) as its UTF-8 bytes', () => {
    const text = `device/${'pompe-π-'.repeat(500)}`;
    expect(murmur3_32Utf8(text, 7)).toBe(murmur3_32(utf8(text), 7));
    expect(murmur3_32Utf8('device/ascii-again', 7)).toBe(murmur3_32(utf8('device/ascii-again'), 7));
  });

  it('hashes only the first `length` bytes when given a length', () => {
    const bytes = utf8('device/acme:pump-17 and trailing garbage');
    expect(murmur3_32(bytes, 0, 19)).toBe(0xb8112276);
  });
});
