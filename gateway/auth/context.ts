/**
 * The contract between the gateway's plugins: who is calling (set by the auth plugin) and what a
 * mutating route changed (set by the route, read by the audit plugin). Kept in one small module
 * so that auth, audit and routes depend on it rather than on each other.
 */

/** Roles, weakest last. `device` may only ingest telemetry. */
export type Role = 'admin' | 'operator' | 'viewer' | 'device';

export interface Principal {
  /** What authenticated: a dashboard user's token, an API key, or a device token. */
  readonly kind: 'user' | 'api_key' | 'device';
  /** users.id, api_keys.id, or the device key; as a string. */
  readonly id: string;
  /** For audit records and logs (email for users, key name and prefix for keys). Never a secret. */
  readonly display: string;
}

export interface AuthContext {
  readonly tenantId: string;
  readonly role: Role;
  readonly principal: Principal;
  /** Device keys bound to one device: its key (HTTP ingest may only write for it). */
  readonly deviceKey?: string;
}

/**
 * What a mutating route tells the audit plugin about its change. Secrets in before/after are
 * redacted by the audit plugin (fields named in `secretFields` and any field whose name ends in
 * `secret`, `token`, `password` or `key_hash`).
 */
export interface AuditNote {
  /** e.g. 'rule.update'; default derived from method and route. */
  action?: string;
  resourceType: string;
  resourceId?: string;
  before?: unknown;
  after?: unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin before the handler runs; undefined on public routes. */
    auth?: AuthContext;
    /** Set by mutating handlers; read by the audit plugin when the response is sent. */
    audit?: AuditNote;
  }
  interface FastifyContextConfig {
    /** Least role a route requires; 'public' for unauthenticated routes (health, login, docs). */
    role?: Role | 'public';
    /**
     * Also accept the credential as `?access_token=` (WebSocket upgrades from browsers cannot
     * set headers). Off by default: query strings end up in logs and proxies.
     */
    tokenInQuery?: boolean;
  }
}
