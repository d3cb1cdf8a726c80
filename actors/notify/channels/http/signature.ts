import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. Each request carries
 *   X-Gito-Timestamp: <unix seconds>
 *   X-Gito-Signature: v1=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>
 * so a receiver can check the body came from Gito with its secret and is recent (replays of an
 * old request fail the timestamp check). docs/notifications.md has a receiver-side snippet.
 */

export const SIGNATURE_HEADER = 'X-Gito-Signature';
export const TIMESTAMP_HEADER = 'X-Gito-Timestamp';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const DELIVERY_HEADER = 'X-Gito-Delivery';

/** Default accepted clock difference between sender and receiver. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function signatureOf(secret: string, timestamp: number | string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface VerifyInput {
  readonly secret: string;
  /** The raw body, exactly as received. */
  readonly body: string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  /** Seconds since the epoch; default now. */
  readonly nowSeconds?: number;
  readonly toleranceSeconds?: number;
}

/**
 * True when one of the header's `v1=` values matches and the timestamp is within tolerance.
 * Comparison is constant-time.
 */
export function verifySignature(input: VerifyInput): boolean {
  const { secret, body, timestamp, signature } = input;
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) {
    return false;
  }
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(signatureOf(secret, timestamp, body));
  return signature.split(',').some((part) => {
    const candidate = Buffer.from(part.trim());
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
}
