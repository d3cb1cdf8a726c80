import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Pool } from 'pg';
import type { Authenticator } from '../auth/authenticator.ts';
import type { TokenSigner } from '../auth/tokens.ts';
import type { ActorAccess, ApiDependencies, RateLimitSettings } from '../deps.ts';

/** The Fastify instance a resource plugin gets: TypeBox-typed, prefixed /api/v1. */
export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What every resource plugin may use. */
export interface ApiContext {
  readonly deps: ApiDependencies;
  readonly pool: Pool;
  readonly actors: ActorAccess;
  readonly authenticator: Authenticator;
  readonly signer: TokenSigner;
  readonly rateLimit: RateLimitSettings;
  readonly now: () => number;
}

/**
 * A resource: one file under gateway/routes exporting one of these, and one line in
 * routes/index.ts. Each runs in its own encapsulated scope under /api/v1.
 */
export interface ApiResource {
  /** OpenAPI tag (also the scope's name in logs). */
  readonly tag: string;
  readonly description: string;
  readonly routes: (app: ApiApp, ctx: ApiContext) => Promise<void> | void;
}
