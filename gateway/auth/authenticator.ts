import type { IncomingHttpHeaders } from 'node:http';
import type { Pool } from 'pg';
import { findKeyCredential, type KeyCredential, touchApiKeys } from '../../db/gateway/api-keys.ts';
import { getUser } from '../../db/gateway/users.ts';
import type { Logger } from '../../runtime/index.ts';
import { apiKeyMatches, apiKeyPrefix } from './api-keys.ts';
import type { AuthContext, Role } from './context.ts';
import { satisfies } from './roles.ts';
import { TOKEN_PREFIX, type TokenSigner } from './tokens.ts';

export type Credential =
  | { readonly kind: 'api_key'; readonly key: string }
  | { readonly kind: 'token'; readonly token: string };

/**
 * The credential a request carries: `Authorization: Bearer <token or key>` or
 * `X-API-Key: <key>`. Undefined when there is none.
 */
export function credentialFrom(headers: IncomingHttpHeaders): Credential | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return { kind: 'api_key', key: apiKey.trim() };
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) return { kind: 'token', token: '' }; // present but not a bearer: invalid
  const value = match[1]!;
  return value.startsWith(TOKEN_PREFIX)
    ? { kind: 'token', token: value }
    : { kind: 'api_key', key: value };
}

export interface AuthenticatorOptions {
  readonly pool: Pool;
  readonly signer: TokenSigner;
  readonly logger: Logger;
  /**
   * How long a looked-up key or user is trusted before it is read again. Revoking a key or
   * disabling a user takes effect at once on the gateway that did it, within this time on others.
   */
  readonly cacheTtlMs?: number;
  /** last_used_at is written at most this often per key. */
  readonly touchEveryMs?: number;
  readonly now?: () => number;
  /** Most entries each cache holds (oldest dropped first). */
  readonly maxCached?: number;
}

interface CachedUser {
  readonly role: 'admin' | 'operator' | 'viewer';
  readonly email: string;
  readonly disabled: boolean;
}

/**
 * Turns a credential into an AuthContext (or undefined when it is not valid: unknown, revoked,
 * expired, badly signed, or its user is disabled). Database reads are cached for a few seconds
 * so that authentication costs a hash and a map lookup on the hot path.
 */
export class Authenticator {
  private readonly keys = new Map<string, { at: number; cred: KeyCredential | null }>();
  private readonly users = new Map<string, { at: number; user: CachedUser | null }>();
  private readonly touched = new Map<string, number>();
  private readonly pendingTouch = new Set<string>();
  private touchTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly max: number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
    this.ttl = options.cacheTtlMs ?? 10_000;
    this.max = options.maxCached ?? 50_000;
  }

  async authenticate(credential: Credential): Promise<AuthContext | undefined> {
    return credential.kind === 'token'
      ? this.fromToken(credential.token)
      : this.fromKey(credential.key);
  }

  /** Drop cached state of a key (after revocation) so it stops working here at once. */
  forgetKey(prefix: string): void {
    this.keys.delete(prefix);
  }

  /** Drop cached state of a user (after an update or deletion), and of every key. */
  forgetUser(tenantId: string, userId: string): void {
    this.users.delete(`${tenantId}:${userId}`);
    // User-bound keys carry the user's role and state: cheaper to forget all keys than to index.
    this.keys.clear();
  }

  /** Writes pending last_used_at updates (also done by a timer). */
  async flush(): Promise<void> {
    if (this.touchTimer !== undefined) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    if (this.pendingTouch.size === 0) return;
    const ids = [...this.pendingTouch];
    this.pendingTouch.clear();
    await touchApiKeys(this.options.pool, ids, new Date(this.now())).catch((err: unknown) =>
      this.options.logger.warn({ err: String(err) }, 'could not record API key use'),
    );
  }

  close(): Promise<void> {
    return this.flush();
  }

  private async fromKey(key: string): Promise<AuthContext | undefined> {
    const prefix = apiKeyPrefix(key);
    if (prefix === undefined) return undefined;
    const cred = await this.keyCredential(prefix);
    if (cred === null || cred.revoked || cred.userDisabled) return undefined;
    if (cred.expiresAt !== null && cred.expiresAt <= this.now()) return undefined;
    if (!apiKeyMatches(key, cred.keyHash)) return undefined;
    this.touch(cred.id);
    // A user-bound key never grants more than its user currently has.
    const role: Role =
      cred.userRole !== null && !satisfies(cred.userRole, cred.role) ? cred.userRole : cred.role;
    const display = `${cred.name} (${cred.prefix})`;
    return {
      tenantId: cred.tenantId,
      role,
      principal: { kind: role === 'device' ? 'device' : 'api_key', id: cred.id, display },
      ...(cred.deviceKey === null ? {} : { deviceKey: cred.deviceKey }),
    };
  }

  private async fromToken(token: string): Promise<AuthContext | undefined> {
    const claims = this.options.signer.verify(token);
    if (claims === undefined) return undefined;
    const user = await this.user(claims.tenantId, claims.userId);
    if (user === null || user.disabled) return undefined;
    return {
      tenantId: claims.tenantId,
      role: user.role,
      principal: { kind: 'user', id: claims.userId, display: user.email },
    };
  }

  private async keyCredential(prefix: string): Promise<KeyCredential | null> {
    const hit = this.keys.get(prefix);
    if (hit !== undefined && this.now() - hit.at < this.ttl) return hit.cred;
    const cred = (await findKeyCredential(this.options.pool, prefix)) ?? null;
    this.remember(this.keys, prefix, { at: this.now(), cred });
    return cred;
  }

  private async user(tenantId: string, userId: string): Promise<CachedUser | null> {
    const id = `${tenantId}:${userId}`;
    const hit = this.users.get(id);
    if (hit !== undefined && this.now() - hit.at < this.ttl) return hit.user;
    const row = /^[0-9]{1,18}$/.test(userId)
      ? await getUser(this.options.pool, tenantId, userId)
      : undefined;
    const user =
      row === undefined ? null : { role: row.role, email: row.email, disabled: row.disabled };
    this.remember(this.users, id, { at: this.now(), user });
    return user;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.max) map.delete(map.keys().next().value!);
  }

  /** Lazy last_used_at: at most once per touchEveryMs per key, written in one batch. */
  private touch(keyId: string): void {
    const every = this.options.touchEveryMs ?? 60_000;
    const last = this.touched.get(keyId);
    const now = this.now();
    if (last !== undefined && now - last < every) return;
    this.remember(this.touched, keyId, now);
    this.pendingTouch.add(keyId);
    if (this.touchTimer === undefined) {
      this.touchTimer = setTimeout(() => void this.flush(), 1_000);
      this.touchTimer.unref();
    }
  }
}
