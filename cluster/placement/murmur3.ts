/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain; reference: smhasher MurmurHash3.cpp),
 * implemented from the reference code. Chosen for placement because it is specified by a short
 * public reference with published test vectors, has good avalanche for short keys, and needs only
 * 32-bit integer arithmetic, which JavaScript does fast (Math.imul) without BigInt.
 *
 * Every node must compute the same hash forever for the same input: never change this code's
 * output. A new function means a new HASH_VERSION (see hash-version.ts).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function scrambleBlock(k: number): number {
  const scaled = Math.imul(k, C1);
  return Math.imul((scaled << 15) | (scaled >>> 17), C2);
}

function mixBody(h: number, k: number): number {
  const mixed = h ^ scrambleBlock(k);
  return (Math.imul((mixed << 13) | (mixed >>> 19), 5) + 0xe6546b64) | 0;
}

/** The reference finalizer: forces every input bit to affect every output bit. */
export function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3_x86_32 of the first `length` bytes of `bytes` (all of them by default); returns an
 * unsigned 32-bit integer.
 */
export function murmur3_32(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  if (length > bytes.length) throw new RangeError(`length ${length} > ${bytes.length} bytes`);
  let h = seed | 0;
  const blockEnd = length & ~3;
  for (let i = 0; i < blockEnd; i += 4) {
    // Little-endian block read, as the reference does on x86.
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h = mixBody(h, k);
  }
  if (blockEnd < length) {
    // The 1-3 remaining bytes, little-endian, as the reference's fall-through switch reads them.
    let tail = 0;
    for (let i = length - 1; i >= blockEnd; i--) tail = (tail << 8) | bytes[i]!;
    h ^= scrambleBlock(tail);
  }
  return fmix32(h ^ length);
}

const encoder = new TextEncoder();
// Reused for non-ASCII input so hashing does not allocate; grows to the longest string seen.
let scratch = new Uint8Array(256);

function murmur3_32Encoded(text: string, seed: number): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit (4 per surrogate pair = 2 units).
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  return murmur3_32(scratch, seed, written);
}

/**
 * MurmurHash3_x86_32 of the UTF-8 encoding of `text` (WHATWG encoding: a lone surrogate encodes
 * as U+FFFD), without allocating. Identities are nearly always ASCII, where a UTF-16 code unit is
 * the byte itself, so that case reads blocks straight from the string.
 */
export function murmur3_32Utf8(text: string, seed = 0): number {
  const length = text.length;
  let h = seed | 0;
  const blockEnd = length & ~3;
  for (let i = 0; i < blockEnd; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) return murmur3_32Encoded(text, seed);
    h = mixBody(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  if (blockEnd < length) {
    let tail = 0;
    for (let i = length - 1; i >= blockEnd; i--) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return murmur3_32Encoded(text, seed);
      tail = (tail << 8) | c;
    }
    h ^= scrambleBlock(tail);
  }
  return fmix32(h ^ length);
}
