import type { ClientBase } from 'pg';
import { GENESIS_HASH, recordHash } from './chain.ts';
import type { PreparedEntry } from './prepare.ts';

/** Where an appended record landed in its tenant's chain. */
export interface AppendedRecord {
  readonly tenantId: string;
  readonly seq: number;
  readonly hash: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Locks the tenant's chain head until the transaction ends (creating it on first use) and returns
 * it. One statement: INSERT ... ON CONFLICT DO UPDATE takes the row lock and returns the row, so
 * concurrent appenders queue here, on any process, and never fork the chain.
 * Must run inside a transaction.
 */
export async function lockChainHead(client: ClientBase, tenantId: string): Promise<ChainHead> {
  const { rows } = await client.query<{ seq: string; hash: string }>(
    `INSERT INTO audit_heads (tenant_id, seq, hash, anchor_seq, anchor_hash)
     VALUES ($1, 0, $2, 0, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET updated_at = audit_heads.updated_at
     RETURNING seq::text AS seq, hash`,
    [tenantId, GENESIS_HASH],
  );
  const row = rows[0]!;
  return { seq: Number(row.seq), hash: row.hash };
}

/**
 * Appends prepared entries to their tenants' chains inside the caller's transaction (BEGIN before,
 * COMMIT after: the records become visible with the rest of the transaction, and a rollback takes
 * them back without a gap). Tenants are locked in sorted order so that two transactions appending
 * to the same tenants cannot deadlock. Returns the records in the order of `entries`.
 */
export async function appendPreparedInTransaction(
  client: ClientBase,
  entries: readonly PreparedEntry[],
): Promise<AppendedRecord[]> {
  const byTenant = new Map<string, number[]>();
  entries.forEach((entry, index) => {
    const list = byTenant.get(entry.tenantId);
    if (list === undefined) byTenant.set(entry.tenantId, [index]);
    else list.push(index);
  });
  const out = new Array<AppendedRecord>(entries.length);
  for (const tenantId of [...byTenant.keys()].sort()) {
    const indexes = byTenant.get(tenantId)!;
    const head = await lockChainHead(client, tenantId);
    const chained = indexes.map((index) => entries[index]!);
    const appended = await insertChained(client, tenantId, head, chained);
    indexes.forEach((index, i) => {
      out[index] = appended[i]!;
    });
  }
  return out;
}

async function insertChained(
  client: ClientBase,
  tenantId: string,
  head: ChainHead,
  entries: readonly PreparedEntry[],
): Promise<AppendedRecord[]> {
  const columns = {
    seq: [] as number[],
    at: [] as number[],
    actorKind: [] as string[],
    actorId: [] as Array<string | null>,
    action: [] as string[],
    resourceType: [] as string[],
    resourceId: [] as Array<string | null>,
    requestId: [] as Array<string | null>,
    status: [] as Array<number | null>,
    outcome: [] as string[],
    personalDigest: [] as string[],
    prevHash: [] as string[],
    hash: [] as string[],
    actorDisplay: [] as Array<string | null>,
    ip: [] as Array<string | null>,
    userAgent: [] as Array<string | null>,
    diff: [] as Array<string | null>,
    salt: [] as string[],
  };
  const appended: AppendedRecord[] = [];
  let prevHash = head.hash;
  let seq = head.seq;
  for (const entry of entries) {
    seq += 1;
    const hash = recordHash({ ...entry, seq, prevHash });
    columns.seq.push(seq);
    columns.at.push(entry.at);
    columns.actorKind.push(entry.actorKind);
    columns.actorId.push(entry.actorId);
    columns.action.push(entry.action);
    columns.resourceType.push(entry.resourceType);
    columns.resourceId.push(entry.resourceId);
    columns.requestId.push(entry.requestId);
    columns.status.push(entry.status);
    columns.outcome.push(entry.outcome);
    columns.personalDigest.push(entry.personalDigest);
    columns.prevHash.push(prevHash);
    columns.hash.push(hash);
    columns.actorDisplay.push(entry.actorDisplay);
    columns.ip.push(entry.ip);
    columns.userAgent.push(entry.userAgent);
    columns.diff.push(entry.diffText);
    columns.salt.push(entry.salt.toString('hex'));
    appended.push({ tenantId, seq, hash });
    prevHash = hash;
  }
  await client.query(
    `WITH rows AS (
       INSERT INTO audit_log (tenant_id, seq, at, actor_kind, actor_id, action, resource_type,
                              resource_id, request_id, status, outcome, personal_digest, prev_hash,
                              hash, actor_display, ip, user_agent, diff, personal_salt)
       SELECT $1, u.seq, timestamptz 'epoch' + u.at * interval '1 millisecond', u.actor_kind,
              u.actor_id, u.action, u.resource_type, u.resource_id, u.request_id, u.status,
              u.outcome, u.personal_digest, u.prev_hash, u.hash, u.actor_display, u.ip,
              u.user_agent, u.diff::jsonb, decode(u.salt, 'hex')
         FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::text[],
                     $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
           AS u(seq, at, actor_kind, actor_id, action, resource_type, resource_id, request_id,
                status, outcome, personal_digest, prev_hash, hash, actor_display, ip, user_agent,
                diff, salt)
       RETURNING 1
     )
     UPDATE audit_heads SET seq = $20, hash = $21, updated_at = now()
      WHERE tenant_id = $1 AND (SELECT count(*) FROM rows) = $22`,
    [
      tenantId,
      columns.seq,
      columns.at,
      columns.actorKind,
      columns.actorId,
      columns.action,
      columns.resourceType,
      columns.resourceId,
      columns.requestId,
      columns.status,
      columns.outcome,
      columns.personalDigest,
      columns.prevHash,
      columns.hash,
      columns.actorDisplay,
      columns.ip,
      columns.userAgent,
      columns.diff,
      columns.salt,
      seq,
      prevHash,
      entries.length,
    ],
  );
  return appended;
}
