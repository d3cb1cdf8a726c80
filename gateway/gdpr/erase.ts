import type { ClientBase, Pool } from 'pg';
import {
  type AuditActor,
  ERASURE_ACTION,
  inTransaction,
  lockChainHead,
  personalMatcher,
  pseudonymiseAuditRecords,
  recordAuditInTransaction,
} from '../../db/audit/index.ts';
import {
  describeSchema,
  ident,
  isJson,
  isTextual,
  type SchemaInfo,
  type TableInfo,
} from './schema.ts';

/** Rows of these tables that belong to the user (user_id) are deleted. */
export const DEFAULT_DELETE_FROM = [
  'api_keys',
  'team_members',
  'contact_points',
  'notification_preferences',
] as const;

/**
 * Not scanned for leftovers: the audit log (pseudonymised instead, keeping its chain), migration
 * bookkeeping, telemetry (device readings; too large to scan per erasure, and removed by
 * retention), and users.
 */
export const DEFAULT_SKIP_SCAN = [
  'audit_log',
  'audit_heads',
  'schema_migrations',
  'telemetry',
  // The user's own row is emptied explicitly; other users' rows are other people's data.
  'users',
] as const;

/**
 * Runtime tables without tenant_id whose rows belong to a tenant through an actor identity
 * ('kind/tenant:key') in this column.
 */
const IDENTITY_COLUMNS: Readonly<Record<string, string>> = {
  actor_state: 'identity',
  reminders: 'actor',
  dead_letters: 'actor',
};

export interface EraseRequest {
  readonly tenantId: string;
  readonly userId: string;
  /** Who erases (recorded in the erasure's audit record). */
  readonly by: AuditActor;
  readonly requestId?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  /** Epoch ms; default Date.now(). */
  readonly now?: number;
}

export interface EraseOptions {
  readonly deleteFrom?: readonly string[];
  readonly skipScan?: readonly string[];
}

export interface ErasureResult {
  readonly userId: string;
  readonly pseudonym: string;
  readonly erasedAt: string;
  /** seq of the erasure's own audit record. */
  readonly auditSeq: number;
  /** Rows deleted, per table. */
  readonly removed: Record<string, number>;
  /** Rows where the person's email, phone or name was replaced by the pseudonym, per table.column. */
  readonly scrubbed: Record<string, number>;
  readonly pseudonymisedRecords: number;
  /** Tables that could not be scanned (no way to tell their tenant): check them by hand. */
  readonly unscanned: string[];
}

export class AlreadyErasedError extends Error {
  override readonly name = 'AlreadyErasedError';
  constructor(
    readonly userId: string,
    readonly erasedAt: string,
  ) {
    super(`user ${userId} was already erased at ${erasedAt}`);
  }
}

/** The stable pseudonym of an erased user: their id carries no personal data. */
export function pseudonymOf(userId: string): string {
  return `erased-user-${userId}`;
}

/**
 * Erases a user's personal data, in one transaction:
 * 1. deletes their rows in contact points, preferences, team memberships and API keys;
 * 2. keeps the user row (ids in history still resolve) with a placeholder email, no name, phone
 *    or password, disabled, erased_at set;
 * 3. replaces their email, phone and name by the pseudonym in every text and JSON column of every
 *    other table of the tenant (alert events, deliveries, actor state, ...);
 * 4. pseudonymises the audit records they made or that concern them (the chain still verifies);
 * 5. appends the erasure's own audit record, which lists the rewritten records' new digests.
 *
 * Returns undefined when the user is not in the tenant; throws AlreadyErasedError when erased.
 */
export async function eraseUser(
  pool: Pool,
  request: EraseRequest,
  options: EraseOptions = {},
): Promise<ErasureResult | undefined> {
  const now = request.now ?? Date.now();
  const schema = await describeSchema(pool);
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{
      email: string;
      display_name: string | null;
      phone: string | null;
      erased_at: Date | null;
    }>(
      `SELECT email, display_name, phone, erased_at FROM users
        WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
      [request.tenantId, request.userId],
    );
    const user = rows[0];
    if (user === undefined) return undefined;
    if (user.erased_at !== null) {
      throw new AlreadyErasedError(request.userId, user.erased_at.toISOString());
    }
    // Taken now so that the erasure record gets head.seq + 1, the seq the rewritten records
    // point at; concurrent audit writers of the tenant wait for this transaction.
    const head = await lockChainHead(client, request.tenantId);
    const pseudonym = pseudonymOf(request.userId);
    const keys = await client.query<{ id: string }>(
      'SELECT id::text AS id FROM api_keys WHERE tenant_id = $1 AND user_id = $2',
      [request.tenantId, request.userId],
    );
    const keyIds = keys.rows.map((r) => r.id);

    const removed: Record<string, number> = {};
    for (const table of options.deleteFrom ?? DEFAULT_DELETE_FROM) {
      const info = schema.get(table);
      if (info === undefined || !info.columns.has('user_id')) continue;
      const res = await client.query(
        info.columns.has('tenant_id')
          ? `DELETE FROM ${ident(table)} WHERE tenant_id = $1 AND user_id = $2::bigint`
          : `DELETE FROM ${ident(table)} WHERE user_id = $1::bigint`,
        info.columns.has('tenant_id') ? [request.tenantId, request.userId] : [request.userId],
      );
      removed[table] = res.rowCount ?? 0;
    }

    await clearUserRow(client, schema, request, now);

    const terms = await formerIdentifiers(client, request);
    terms.emails.push(user.email);
    if (user.phone !== null) terms.phones.push(user.phone);
    if (user.display_name !== null) terms.names.push(user.display_name);
    const skip = new Set<string>(options.skipScan ?? DEFAULT_SKIP_SCAN);
    const { scrubbed, unscanned } = await scrubTables(
      client,
      schema,
      skip,
      request,
      terms,
      pseudonym,
    );

    const pseudonymised = await pseudonymiseAuditRecords(
      client,
      {
        tenantId: request.tenantId,
        pseudonym,
        actors: [
          { kind: 'user', id: request.userId },
          ...keyIds.map((id) => ({ kind: 'api_key' as const, id })),
        ],
        resources: [{ type: 'user', id: request.userId }],
        terms,
      },
      head.seq + 1,
    );
    const [record] = await recordAuditInTransaction(
      client,
      [
        {
          tenantId: request.tenantId,
          at: now,
          actor: request.by,
          action: ERASURE_ACTION,
          resourceType: 'user',
          resourceId: request.userId,
          after: { pseudonym, removed, scrubbed, unscanned, pseudonymised },
          ...(request.requestId === undefined ? {} : { requestId: request.requestId }),
          ...(request.ip === undefined ? {} : { ip: request.ip }),
          ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
          result: { status: 200, outcome: 'ok' },
        },
      ],
      // The list of rewritten records is what verification checks them against: never cut it.
      { now, maxDiffBytes: Number.POSITIVE_INFINITY },
    );
    if (record!.seq !== head.seq + 1) {
      throw new Error(`erasure record got seq ${record!.seq}, expected ${head.seq + 1}`);
    }
    return {
      userId: request.userId,
      pseudonym,
      erasedAt: new Date(now).toISOString(),
      auditSeq: record!.seq,
      removed,
      scrubbed,
      pseudonymisedRecords: pseudonymised.length,
      unscanned,
    };
  });
}

/**
 * Emails, phones and names the user had before (the audit log's diffs of their user record), so
 * that copies taken before a change are found too.
 */
async function formerIdentifiers(
  client: ClientBase,
  request: EraseRequest,
): Promise<{ emails: string[]; phones: string[]; names: string[] }> {
  const { rows } = await client.query<{ diff: unknown }>(
    `SELECT diff FROM audit_log
      WHERE tenant_id = $1 AND resource_type = 'user' AND resource_id = $2 AND diff IS NOT NULL`,
    [request.tenantId, request.userId],
  );
  const found = { emails: [] as string[], phones: [] as string[], names: [] as string[] };
  for (const { diff } of rows) {
    const { before, after } = (diff ?? {}) as { before?: unknown; after?: unknown };
    for (const side of [before, after]) {
      if (side === null || typeof side !== 'object' || Array.isArray(side)) continue;
      for (const [key, value] of Object.entries(side)) {
        if (typeof value !== 'string' || value === '') continue;
        if (/e-?mail/i.test(key)) found.emails.push(value);
        else if (/phone|mobile/i.test(key)) found.phones.push(value);
        else if (/name/i.test(key)) found.names.push(value);
      }
    }
  }
  return found;
}

/** The user row stays, emptied of personal data; only columns this database has are touched. */
async function clearUserRow(
  client: ClientBase,
  schema: SchemaInfo,
  request: EraseRequest,
  now: number,
): Promise<void> {
  const columns = schema.get('users')?.columns ?? new Map<string, string>();
  const sets = [
    `email = 'erased-user-' || id || '@erased.invalid'`,
    `erased_at = timestamptz 'epoch' + $3::bigint * interval '1 millisecond'`,
  ];
  for (const column of ['display_name', 'phone', 'password_hash', 'last_login_at']) {
    if (columns.has(column)) sets.push(`${ident(column)} = NULL`);
  }
  if (columns.has('disabled')) sets.push('disabled = true');
  await client.query(`UPDATE users SET ${sets.join(', ')} WHERE tenant_id = $1 AND id = $2`, [
    request.tenantId,
    request.userId,
    now,
  ]);
}

/**
 * How rows of `table` that belong to the tenant (or the user) are found, with `$tenant` or `$user`
 * standing for the parameters; undefined when they cannot be told apart.
 */
function scopeOf(table: TableInfo, schema: SchemaInfo): string | undefined {
  if (table.columns.has('tenant_id')) return 'tenant_id = $tenant';
  if (table.name === 'tenants') return 'id = $tenant';
  // User ids are unique across tenants.
  if (table.columns.has('user_id')) return 'user_id = $user::bigint';
  const identity = IDENTITY_COLUMNS[table.name];
  if (identity !== undefined && table.columns.has(identity)) {
    return `position('/' || $tenant || ':' IN ${ident(identity)}) > 0`;
  }
  for (const fk of table.foreignKeys) {
    if (schema.get(fk.refTable)?.columns.has('tenant_id')) {
      return `${ident(fk.column)} IN (SELECT ${ident(fk.refColumn)} FROM ${ident(fk.refTable)} WHERE tenant_id = $tenant)`;
    }
  }
  return undefined;
}

/** `$name` placeholders to `$n`, passing only the values the text uses. */
function compile(
  sql: string,
  values: Record<string, unknown>,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const numbers = new Map<string, number>();
  const text = sql.replace(/\$([a-z]+)/g, (_, name: string) => {
    let n = numbers.get(name);
    if (n === undefined) {
      if (!(name in values)) throw new Error(`no value for $${name}`);
      params.push(values[name]);
      n = params.length;
      numbers.set(name, n);
    }
    return `$${n}`;
  });
  return { text, params };
}

async function scrubTables(
  client: ClientBase,
  schema: SchemaInfo,
  skip: ReadonlySet<string>,
  request: EraseRequest,
  terms: { emails: string[]; phones: string[]; names: string[] },
  pseudonym: string,
): Promise<{ scrubbed: Record<string, number>; unscanned: string[] }> {
  const pattern = personalMatcher(terms).sql;
  const scrubbed: Record<string, number> = {};
  const unscanned: string[] = [];
  if (pattern === undefined) return { scrubbed, unscanned };
  for (const table of schema.values()) {
    if (skip.has(table.name)) continue;
    const textual = [...table.columns].filter(([, type]) => isTextual(type));
    if (textual.length === 0) continue;
    const scope = scopeOf(table, schema);
    if (scope === undefined) {
      unscanned.push(table.name);
      continue;
    }
    for (const [column, type] of textual) {
      const col = ident(column);
      const asText = isJson(type) ? `${col}::text` : col;
      const length = /\((\d+)\)$/.exec(type)?.[1];
      let value = `regexp_replace(${asText}, $pattern, $pseudonym, 'gi')`;
      if (length !== undefined) value = `left(${value}, ${Number(length)})`;
      if (isJson(type)) value = `${value}::${type}`;
      const query = compile(
        `UPDATE ${ident(table.name)} SET ${col} = ${value} WHERE ${scope} AND ${asText} ~* $pattern`,
        { tenant: request.tenantId, user: request.userId, pattern, pseudonym },
      );
      const res = await client.query(query.text, query.params);
      if ((res.rowCount ?? 0) > 0) scrubbed[`${table.name}.${column}`] = res.rowCount ?? 0;
    }
  }
  return { scrubbed, unscanned };
}
