import { createHash } from 'node:crypto';

/** A short stable digest of a secret destination, for recipient keys that must not reveal it. */
export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 27);
}
