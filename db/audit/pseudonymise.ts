import { randomBytes } from 'node:crypto';
import type { ClientBase } from 'pg';
import { canonicalJson } from './canonical.ts';
import { type PersonalFields, personalDigest } from './chain.ts';
import { type PersonalTerms, personalMatcher } from './matchers.ts';
import type { ActorKind } from './record.ts';
import { AUDIT_COLUMNS, type AuditRow, personalFieldsOf } from './rows.ts';

export interface PseudonymiseSpec {
  readonly tenantId: string;
  /** Replaces the person everywhere: 'erased-user-42'. */
  readonly pseudonym: string;
  /** Records this person made: display becomes the pseudonym, IP and user agent are dropped. */
  readonly actors: ReadonlyArray<{ kind: ActorKind; id: string }>;
  /**
   * Records about this person (their user record): in before/after, string fields named like
   * personal data (email, name, phone, address) become the pseudonym.
   */
  readonly resources: ReadonlyArray<{ type: string; id: string }>;
  /** The person's identifiers (emails, phones, names), replaced by the pseudonym wherever found. */
  readonly terms: PersonalTerms;
}

/** [seq, new personal digest] of each rewritten record, for the erasure record. */
export type PseudonymisedList = Array<[number, string]>;

const PERSONAL_FIELD = /e-?mail|name|phone|mobile|address|^to$|recipient/i;

/**
 * Rewrites the personal fields (actor display, IP, user agent, diff) of a tenant's audit records
 * that concern a person, inside the caller's transaction, marking them pseudonymised by
 * `erasureSeq` (the seq the caller's erasure record will get: the caller holds the chain head lock
 * via lockChainHead). The chained fields are untouched, so the chain still verifies; the new
 * digests returned must be written into the erasure record, which is how verification checks the
 * rewritten fields.
 */
export async function pseudonymiseAuditRecords(
  client: ClientBase,
  spec: PseudonymiseSpec,
  erasureSeq: number,
): Promise<PseudonymisedList> {
  const matcher = personalMatcher(spec.terms);
  const params: unknown[] = [spec.tenantId];
  const matches: string[] = [];
  for (const actor of spec.actors) {
    params.push(actor.kind, actor.id);
    matches.push(`(actor_kind = $${params.length - 1} AND actor_id = $${params.length})`);
  }
  for (const resource of spec.resources) {
    params.push(resource.type, resource.id);
    matches.push(`(resource_type = $${params.length - 1} AND resource_id = $${params.length})`);
  }
  if (matcher.sql !== undefined) {
    params.push(matcher.sql);
    const p = `$${params.length}`;
    matches.push(`actor_display ~* ${p} OR ip ~* ${p} OR user_agent ~* ${p} OR diff::text ~* ${p}`);
  }
  if (matches.length === 0) return [];
  const { rows } = await client.query<AuditRow>(
    `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE tenant_id = $1 AND (${matches.join(' OR ')})
      ORDER BY audit_log.seq FOR UPDATE`,
    params,
  );

  const scrub = (text: string) => matcher.replace(text, spec.pseudonym);
  const isActor = (row: AuditRow) =>
    spec.actors.some((a) => a.kind === row.actor_kind && a.id === row.actor_id);
  const isResource = (row: AuditRow) =>
    spec.resources.some((r) => r.type === row.resource_type && r.id === row.resource_id);

  const list: PseudonymisedList = [];
  const update = {
    seq: [] as string[],
    display: [] as Array<string | null>,
    ip: [] as Array<string | null>,
    userAgent: [] as Array<string | null>,
    diff: [] as Array<string | null>,
    salt: [] as string[],
  };
  for (const row of rows) {
    const old = personalFieldsOf(row);
    const own = isActor(row);
    const about = isResource(row);
    const fields: PersonalFields = {
      actorDisplay: own ? spec.pseudonym : mapNullable(old.actorDisplay, scrub),
      ip: own ? null : mapNullable(old.ip, scrub),
      userAgent: own ? null : mapNullable(old.userAgent, scrub),
      diff: scrubJson(old.diff, scrub, about ? spec.pseudonym : undefined),
    };
    const salt = randomBytes(16);
    list.push([Number(row.seq), personalDigest(salt, fields)]);
    update.seq.push(row.seq);
    update.display.push(fields.actorDisplay);
    update.ip.push(fields.ip);
    update.userAgent.push(fields.userAgent);
    update.diff.push(fields.diff === null ? null : canonicalJson(fields.diff));
    update.salt.push(salt.toString('hex'));
  }
  if (list.length > 0) {
    await client.query(
      `UPDATE audit_log AS a
          SET actor_display = u.display, ip = u.ip, user_agent = u.user_agent,
              diff = u.diff::jsonb, personal_salt = decode(u.salt, 'hex'),
              pseudonymised_by = $2
         FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
           AS u(seq, display, ip, user_agent, diff, salt)
        WHERE a.tenant_id = $1 AND a.seq = u.seq`,
      [
        spec.tenantId,
        erasureSeq,
        update.seq,
        update.display,
        update.ip,
        update.userAgent,
        update.diff,
        update.salt,
      ],
    );
  }
  return list;
}

function mapNullable(value: string | null, fn: (text: string) => string): string | null {
  return value === null ? null : fn(value);
}

/** Strings (values and keys) scrubbed; with `pseudonym`, personal-looking string fields replaced. */
function scrubJson(value: unknown, scrub: (text: string) => string, pseudonym?: string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrubJson(item, scrub, pseudonym));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[scrub(key)] =
      pseudonym !== undefined && typeof item === 'string' && PERSONAL_FIELD.test(key)
        ? pseudonym
        : scrubJson(item, scrub, pseudonym);
  }
  return out;
}
