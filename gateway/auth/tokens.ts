import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived bearer tokens for dashboard users: `gitot.<payload>.<signature>`, the payload
 * base64url JSON {tid, uid, iat, exp} (seconds), the signature HMAC-SHA256 over the encoded
 * payload with the gateway's secret. Stateless: every gateway with the same secret accepts
 * them. The user's current role and state are still looked up at each use (cached briefly), so
 * disabling or demoting a user takes effect without waiting for expiry.
 */

export const TOKEN_PREFIX = 'gitot.';
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
/** A shorter secret is refused: HMAC keys should carry at least 256 bits. */
export const MIN_SECRET_BYTES = 32;

export interface TokenClaims {
  readonly tenantId: string;
  readonly userId: string;
  /** Expiry, ms since the epoch. */
  readonly expiresAt: number;
}

export class TokenSigner {
  private readonly key: Buffer;

  constructor(
    secret: string | Buffer,
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (this.key.length < MIN_SECRET_BYTES) {
      throw new RangeError(`token secret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
  }

  /** A random secret for a process that was given none (tokens die with the process). */
  static ephemeralSecret(): Buffer {
    return randomBytes(32);
  }

  issue(tenantId: string, userId: string): { token: string; expiresAt: number } {
    const iat = Math.floor(this.now() / 1000);
    const exp = Math.floor((this.now() + this.ttlMs) / 1000);
    const payload = Buffer.from(JSON.stringify({ tid: tenantId, uid: userId, iat, exp })).toString(
      'base64url',
    );
    return { token: `${TOKEN_PREFIX}${payload}.${this.sign(payload)}`, expiresAt: exp * 1000 };
  }

  /** The claims of a genuine, unexpired token; undefined otherwise. */
  verify(token: string): TokenClaims | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const [payload, signature, extra] = token.slice(TOKEN_PREFIX.length).split('.');
    if (payload === undefined || signature === undefined || extra !== undefined) return undefined;
    const expected = Buffer.from(this.sign(payload), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let claims: { tid?: unknown; uid?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    const { tid, uid, exp } = claims;
    if (typeof tid !== 'string' || typeof uid !== 'string' || typeof exp !== 'number') {
      return undefined;
    }
    if (exp * 1000 <= this.now()) return undefined;
    return { tenantId: tid, userId: uid, expiresAt: exp * 1000 };
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
