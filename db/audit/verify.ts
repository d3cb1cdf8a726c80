import type { Pool } from 'pg';
import { GENESIS_HASH, personalDigest, recordHash } from './chain.ts';
import { ERASURE_ACTION, RETENTION_ACTION } from './record.ts';
import { AUDIT_COLUMNS, type AuditRow, chainedFieldsOf, personalFieldsOf } from './rows.ts';

export interface BrokenLink {
  /** The first record that does not verify (or is missing). */
  readonly seq: number;
  readonly reason: string;
}

export interface VerifyResult {
  readonly tenantId: string;
  readonly ok: boolean;
  /** Records checked. */
  readonly records: number;
  /** First and last seq present; null for an empty chain. */
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** The head as stored (seq and hash of the last record): note it elsewhere to detect truncation. */
  readonly head: { seq: number; hash: string };
  /** Records up to anchor.seq were deleted by retention; anchor.hash is the last one's hash. */
  readonly anchor: { seq: number; hash: string };
  /** Records whose personal fields were rewritten by an erasure (verified against its record). */
  readonly pseudonymised: number;
  readonly broken: BrokenLink | null;
}

/**
 * Walks a tenant's chain from the retention anchor to the head and reports the first broken link:
 * a missing record, a prev_hash that is not the previous record's hash, a record whose chained
 * fields were altered (hash mismatch), personal fields altered (digest mismatch, or not what the
 * erasure that rewrote them recorded), records missing at the end (head mismatch), or a retention
 * anchor no retention record confirms. Reads in pages by seq; memory grows only with the number
 * of pseudonymised records.
 */
export async function verifyAuditChain(
  pool: Pool,
  tenantId: string,
  options: { pageSize?: number } = {},
): Promise<VerifyResult> {
  const pageSize = Math.max(1, Math.min(10_000, options.pageSize ?? 1000));
  const result = await verifyOnce(pool, tenantId, pageSize);
  if (result.ok) return result;
  // Retention may have moved the anchor while we walked (it deletes the start of the chain):
  // what looked like missing records is then the new start. Walk again from there.
  const { rows } = await pool.query<{ anchor_seq: string }>(
    'SELECT anchor_seq::text AS anchor_seq FROM audit_heads WHERE tenant_id = $1',
    [tenantId],
  );
  const anchorSeq = Number(rows[0]?.anchor_seq ?? 0);
  return anchorSeq === result.anchor.seq ? result : verifyOnce(pool, tenantId, pageSize);
}

async function verifyOnce(pool: Pool, tenantId: string, pageSize: number): Promise<VerifyResult> {
  const headRows = await pool.query<{
    seq: string;
    hash: string;
    anchor_seq: string;
    anchor_hash: string;
  }>(
    `SELECT seq::text AS seq, hash, anchor_seq::text AS anchor_seq, anchor_hash
       FROM audit_heads WHERE tenant_id = $1`,
    [tenantId],
  );
  const headRow = headRows.rows[0];
  const head = {
    seq: Number(headRow?.seq ?? 0),
    hash: headRow?.hash ?? GENESIS_HASH,
  };
  const anchor = {
    seq: Number(headRow?.anchor_seq ?? 0),
    hash: headRow?.anchor_hash ?? GENESIS_HASH,
  };

  const problems: BrokenLink[] = [];
  // Pseudonymised records wait for the erasure record (later in the chain) that lists them.
  const pendingErased: Array<{ seq: number; by: number; digest: string }> = [];
  const erasures = new Map<number, Map<number, string>>();
  let anchorConfirmed = anchor.seq === 0;
  let expectedSeq = anchor.seq + 1;
  let prevHash = anchor.hash;
  let records = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let chainBroken = false;

  walk: for (let afterSeq = anchor.seq; ; ) {
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE tenant_id = $1 AND seq > $2 AND seq <= $4
        ORDER BY audit_log.seq LIMIT $3`,
      // Up to the head read above: records appended meanwhile are for the next verification.
      [tenantId, afterSeq, pageSize, headRow === undefined ? Number.MAX_SAFE_INTEGER : head.seq],
    );
    for (const row of rows) {
      const seq = Number(row.seq);
      firstSeq ??= seq;
      lastSeq = seq;
      records++;
      if (seq !== expectedSeq) {
        problems.push({ seq: expectedSeq, reason: `record ${expectedSeq} is missing` });
        chainBroken = true;
        break walk;
      }
      if (row.prev_hash !== prevHash) {
        problems.push({ seq, reason: 'prev_hash is not the hash of the previous record' });
        chainBroken = true;
        break walk;
      }
      const chained = chainedFieldsOf(row);
      if (recordHash(chained) !== row.hash) {
        problems.push({ seq, reason: 'record altered: its hash does not match its fields' });
        chainBroken = true;
        break walk;
      }
      const personal = personalFieldsOf(row);
      const digest = personalDigest(Buffer.from(row.personal_salt, 'hex'), personal);
      if (row.pseudonymised_by === null) {
        if (digest !== row.personal_digest) {
          problems.push({ seq, reason: 'personal fields altered: digest does not match' });
          chainBroken = true;
          break walk;
        }
      } else {
        pendingErased.push({ seq, by: Number(row.pseudonymised_by), digest });
      }
      if (row.action === ERASURE_ACTION) erasures.set(seq, erasureListOf(personal.diff));
      if (!anchorConfirmed && row.action === RETENTION_ACTION) {
        anchorConfirmed = confirmsAnchor(personal.diff, anchor);
      }
      prevHash = row.hash;
      expectedSeq = seq + 1;
    }
    if (rows.length < pageSize) break;
    afterSeq = Number(rows[rows.length - 1]!.seq);
  }

  if (!chainBroken) {
    if (headRow === undefined && records > 0) {
      problems.push({ seq: firstSeq ?? 1, reason: 'the chain head (audit_heads row) is missing' });
    } else if (head.seq !== expectedSeq - 1) {
      problems.push({
        seq: expectedSeq,
        reason: `records missing at the end: the head is at ${head.seq}, the chain ends at ${expectedSeq - 1}`,
      });
    } else if (head.hash !== prevHash) {
      problems.push({ seq: head.seq, reason: 'the head hash is not the hash of the last record' });
    }
    if (!anchorConfirmed) {
      problems.push({
        seq: anchor.seq + 1,
        reason: `no ${RETENTION_ACTION} record confirms the retention anchor at ${anchor.seq}`,
      });
    }
  }
  for (const erased of pendingErased) {
    // Rewritten by an erasure that committed after the head was read: checked next time.
    if (erased.by > head.seq) continue;
    const listed = erasures.get(erased.by);
    if (listed === undefined) {
      // The erasure record lies beyond a break: nothing more can be said about this one.
      if (!chainBroken) {
        problems.push({
          seq: erased.seq,
          reason: `pseudonymised by ${erased.by}, which is not an erasure record`,
        });
      }
    } else if (listed.get(erased.seq) !== erased.digest) {
      problems.push({
        seq: erased.seq,
        reason: `pseudonymised fields do not match what erasure ${erased.by} recorded`,
      });
    }
  }

  const broken = problems.reduce<BrokenLink | null>(
    (first, p) => (first === null || p.seq < first.seq ? p : first),
    null,
  );
  return {
    tenantId,
    ok: broken === null,
    records,
    firstSeq,
    lastSeq,
    head,
    anchor,
    pseudonymised: pendingErased.length,
    broken,
  };
}

/** seq -> digest from an erasure record's diff: {after: {pseudonymised: [[seq, digest], ...]}}. */
function erasureListOf(diff: unknown): Map<number, string> {
  const list = (diff as { after?: { pseudonymised?: unknown } } | null)?.after?.pseudonymised;
  const out = new Map<number, string>();
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    if (Array.isArray(item) && typeof item[0] === 'number' && typeof item[1] === 'string') {
      out.set(item[0], item[1]);
    }
  }
  return out;
}

function confirmsAnchor(diff: unknown, anchor: { seq: number; hash: string }): boolean {
  const after = (diff as { after?: { anchorSeq?: unknown; anchorHash?: unknown } } | null)?.after;
  return after?.anchorSeq === anchor.seq && after.anchorHash === anchor.hash;
}
