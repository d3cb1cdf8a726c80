import { fromJsonText } from '../stores/json.ts';
import { iso, type Queryable, type Slice } from './common.ts';

/**
 * Dead letters as a tenant sees them. The table has no tenant column (the runtime writes it and
 * knows no tenants); a letter belongs to a tenant when its actor's key starts with
 * '{tenantId}:' (device/acme:pump-17, rule/acme:42): the convention of every tenant-scoped
 * actor kind. Letters of other actors (none so far) are visible to no tenant.
 */

export interface TenantDeadLetter {
  readonly id: string;
  readonly actor: string;
  readonly messageType: string;
  readonly message: unknown;
  readonly attempts: number;
  readonly error: string;
  readonly reason: string;
  readonly failedAt: string;
}

export interface DeadLetterCursor {
  /** failed_at in microseconds since the epoch. */
  readonly us: string;
  readonly id: string;
}

export async function listTenantDeadLetters(
  db: Queryable,
  tenantId: string,
  f: {
    kind?: string;
    actor?: string;
    reason?: string;
    from?: Date;
    to?: Date;
    before?: DeadLetterCursor;
    limit: number;
  },
): Promise<Slice<TenantDeadLetter> & { last?: DeadLetterCursor }> {
  const params: unknown[] = [`${tenantId}:`, f.limit + 1];
  const where = [`starts_with(substr(actor, strpos(actor, '/') + 1), $1)`];
  const add = (value: unknown, sql: (p: string) => string) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (f.kind !== undefined) add(`${f.kind}/`, (p) => `starts_with(actor, ${p})`);
  if (f.actor !== undefined) add(f.actor, (p) => `actor = ${p}`);
  if (f.reason !== undefined) add(f.reason, (p) => `reason = ${p}`);
  if (f.from !== undefined) add(f.from, (p) => `failed_at >= ${p}`);
  if (f.to !== undefined) add(f.to, (p) => `failed_at < ${p}`);
  if (f.before !== undefined) {
    params.push(f.before.us, f.before.id);
    const us = `$${params.length - 1}::bigint`;
    where.push(
      `(failed_at, id) < (timestamptz 'epoch' + ${us} * interval '1 microsecond', $${params.length}::bigint)`,
    );
  }
  const { rows } = await db.query<{
    id: string;
    actor: string;
    message_type: string;
    message: string | null;
    attempts: number;
    error: string;
    reason: string;
    failed_at: Date;
    us: string;
  }>(
    `SELECT id::text AS id, actor, message_type, message::text AS message, attempts, error,
            reason, failed_at, (extract(epoch FROM failed_at) * 1000000)::bigint::text AS us
       FROM dead_letters WHERE ${where.join(' AND ')}
      ORDER BY failed_at DESC, id DESC LIMIT $2`,
    params,
  );
  const more = rows.length > f.limit;
  const page = more ? rows.slice(0, f.limit) : rows;
  const tail = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      actor: r.actor,
      messageType: r.message_type,
      message: fromJsonText(r.message),
      attempts: r.attempts,
      error: r.error,
      reason: r.reason,
      failedAt: iso(r.failed_at)!,
    })),
    more,
    ...(tail === undefined ? {} : { last: { us: tail.us, id: tail.id } }),
  };
}
