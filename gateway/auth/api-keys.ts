import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `gito_<prefix>_<secret>`: the prefix (12 lowercase letters and digits)
 * finds the row and is safe to show and log; the secret (32 random bytes, base64url) is shown
 * once at creation. The database keeps SHA-256 of the whole key: a fast hash is right for a
 * 256-bit random secret (no dictionary to guess from), and it keeps authentication cheap.
 */

const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const KEY_PATTERN = /^gito_([a-z0-9]{8,32})_([A-Za-z0-9_-]{20,128})$/;

export interface GeneratedKey {
  /** The whole key, to hand to the client once. */
  readonly key: string;
  readonly prefix: string;
  readonly hash: Buffer;
}

export function generateApiKey(): GeneratedKey {
  const bytes = randomBytes(12);
  let prefix = '';
  for (const b of bytes) prefix += PREFIX_ALPHABET[b % PREFIX_ALPHABET.length];
  const key = `gito_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The prefix of a well-formed key, or undefined. */
export function apiKeyPrefix(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

export function apiKeyMatches(key: string, storedHash: Buffer): boolean {
  const hash = hashApiKey(key);
  return storedHash.length === hash.length && timingSafeEqual(hash, storedHash);
}
