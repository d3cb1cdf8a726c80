import type { Pool } from 'pg';
import { StaleEpochError, VersionConflictError } from '../../runtime/errors.ts';
import type { ActorId } from '../../runtime/identity.ts';
import type { SaveFence, StateStore, StoredState } from '../../runtime/state-store.ts';
import { Batcher } from './batcher.ts';
import { fromJsonText, toJsonText } from './json.ts';

interface Row {
  state: string | null;
  epoch: string;
  version: string;
}

/** Attempts when a row changes between a refused write and the read that explains it. */
const MAX_ATTEMPTS = 5;

/**
 * StateStore on the actor_state table (identity, state JSONB, epoch, version).
 *
 * Every write is one statement whose WHERE clause is the fence, so the check and the write are
 * atomic without explicit transactions or row locks. When a write matches no row, a second read
 * tells a stale epoch from a version conflict; if that read finds the row acceptable after all
 * (it changed in between), the write is retried.
 *
 * State must be JSON: it is stored as JSONB and comes back as parsed JSON (Dates become strings,
 * undefined properties vanish, a BigInt or a cycle throws on save). JSONB also refuses the
 * character U+0000 in strings.
 *
 * delete() keeps a tombstone (state NULL, version 0, the highest epoch) rather than removing the
 * row, so an old owner cannot resurrect a deleted identity with a stale epoch. Use
 * purgeTombstones() to remove old tombstones.
 */
export class PostgresStateStore implements StateStore {
  /**
   * Claims and saves issued in the same tick go out as one multi-row statement (a rebalance or a
   * node start claims thousands at once); whatever the batch statement does not settle (a stale
   * epoch, a version conflict, a duplicate in the batch) falls back to the single-row path, which
   * explains the refusal precisely.
   */
  private readonly claims = new Batcher<{ id: ActorId; epoch: number }, Row | null>((items) =>
    this.claimBatch(items),
  );
  private readonly saves = new Batcher<
    { id: ActorId; json: string | null; epoch: number; expected: number },
    number | null
  >((items) => this.saveBatch(items));
  /** First saves (expected version 0): the row may be missing or only claimed. */
  private readonly firstSaves = new Batcher<
    { id: ActorId; json: string | null; epoch: number; expected: number },
    number | null
  >((items) => this.firstSaveBatch(items));

  constructor(private readonly pool: Pool) {}

  async claim(id: ActorId, epoch: number): Promise<StoredState | undefined> {
    checkNumber('epoch', epoch);
    const batched = await this.claims.add({ id, epoch });
    if (batched !== null) return toStored(batched);
    return this.claimOne(id, epoch);
  }

  private async claimBatch(
    items: Array<{ id: ActorId; epoch: number }>,
  ): Promise<Array<Row | null>> {
    const unique = uniqueIndexes(items.map((i) => i.id));
    if (unique.length === 0) return items.map(() => null);
    const { rows } = await this.pool.query<Row & { identity: string }>(
      `INSERT INTO actor_state AS s (identity, epoch, version)
       SELECT v.identity, v.epoch, 0 FROM unnest($1::text[], $2::bigint[]) AS v(identity, epoch)
       ON CONFLICT (identity) DO UPDATE
         SET epoch = excluded.epoch, updated_at = now()
         WHERE s.epoch <= excluded.epoch
       RETURNING s.identity, s.state::text AS state, s.epoch::text AS epoch, s.version::text AS version`,
      [unique.map((i) => items[i]!.id), unique.map((i) => items[i]!.epoch)],
    );
    const byId = new Map(rows.map((r) => [r.identity, r]));
    const out: Array<Row | null> = items.map(() => null);
    for (const i of unique) out[i] = byId.get(items[i]!.id) ?? null;
    return out;
  }

  private async claimOne(id: ActorId, epoch: number): Promise<StoredState | undefined> {
    for (let attempt = 1; ; attempt++) {
      const { rows } = await this.pool.query<Row>(
        `INSERT INTO actor_state AS s (identity, epoch, version) VALUES ($1, $2, 0)
         ON CONFLICT (identity) DO UPDATE
           SET epoch = excluded.epoch, updated_at = now()
           WHERE s.epoch <= excluded.epoch
         RETURNING s.state::text AS state, s.epoch::text AS epoch, s.version::text AS version`,
        [id, epoch],
      );
      const row = rows[0];
      if (row !== undefined) return toStored(row);
      const stored = await this.read(id);
      if (stored !== undefined && stored.epoch > epoch) {
        throw new StaleEpochError(id, epoch, stored.epoch);
      }
      if (attempt >= MAX_ATTEMPTS) throw new Error(`claim of ${id} kept racing; giving up`);
    }
  }

  async save(id: ActorId, state: unknown, fence: SaveFence): Promise<number> {
    checkNumber('epoch', fence.epoch);
    checkNumber('expectedVersion', fence.expectedVersion);
    const json = toJsonText(state);
    const batcher = fence.expectedVersion > 0 ? this.saves : this.firstSaves;
    const version = await batcher.add({
      id,
      json,
      epoch: fence.epoch,
      expected: fence.expectedVersion,
    });
    if (version !== null) return version;
    return this.saveOne(id, json, fence);
  }

  private async saveBatch(
    items: Array<{ id: ActorId; json: string | null; epoch: number; expected: number }>,
  ): Promise<Array<number | null>> {
    const unique = uniqueIndexes(items.map((i) => i.id));
    if (unique.length === 0) return items.map(() => null);
    const { rows } = await this.pool.query<{ identity: string; version: string }>(
      `UPDATE actor_state AS s
          SET state = v.state::jsonb, epoch = v.epoch, version = s.version + 1, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS v(identity, state, epoch, expected)
        WHERE s.identity = v.identity AND s.epoch <= v.epoch AND s.version = v.expected
       RETURNING s.identity, s.version::text AS version`,
      [
        unique.map((i) => items[i]!.id),
        unique.map((i) => items[i]!.json),
        unique.map((i) => items[i]!.epoch),
        unique.map((i) => items[i]!.expected),
      ],
    );
    const byId = new Map(rows.map((r) => [r.identity, Number(r.version)]));
    const out: Array<number | null> = items.map(() => null);
    for (const i of unique) out[i] = byId.get(items[i]!.id) ?? null;
    return out;
  }

  private async firstSaveBatch(
    items: Array<{ id: ActorId; json: string | null; epoch: number; expected: number }>,
  ): Promise<Array<number | null>> {
    const unique = uniqueIndexes(items.map((i) => i.id));
    if (unique.length === 0) return items.map(() => null);
    const { rows } = await this.pool.query<{ identity: string; version: string }>(
      `INSERT INTO actor_state AS s (identity, state, epoch, version)
       SELECT v.identity, v.state::jsonb, v.epoch, 1
         FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(identity, state, epoch)
       ON CONFLICT (identity) DO UPDATE
         SET state = excluded.state, epoch = excluded.epoch, version = s.version + 1, updated_at = now()
         WHERE s.epoch <= excluded.epoch AND s.version = 0
       RETURNING s.identity, s.version::text AS version`,
      [
        unique.map((i) => items[i]!.id),
        unique.map((i) => items[i]!.json),
        unique.map((i) => items[i]!.epoch),
      ],
    );
    const byId = new Map(rows.map((r) => [r.identity, Number(r.version)]));
    const out: Array<number | null> = items.map(() => null);
    for (const i of unique) out[i] = byId.get(items[i]!.id) ?? null;
    return out;
  }

  private async saveOne(id: ActorId, json: string | null, fence: SaveFence): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      // expectedVersion 0 means "never saved": the row may not exist yet (no claim), so upsert.
      const { rows } =
        fence.expectedVersion === 0
          ? await this.pool.query<{ version: string }>(
              `INSERT INTO actor_state AS s (identity, state, epoch, version)
               VALUES ($1, $2::jsonb, $3, 1)
               ON CONFLICT (identity) DO UPDATE
                 SET state = excluded.state, epoch = excluded.epoch, version = s.version + 1,
                     updated_at = now()
                 WHERE s.epoch <= excluded.epoch AND s.version = 0
               RETURNING s.version::text AS version`,
              [id, json, fence.epoch],
            )
          : await this.pool.query<{ version: string }>(
              `UPDATE actor_state
                  SET state = $2::jsonb, epoch = $3, version = version + 1, updated_at = now()
                WHERE identity = $1 AND epoch <= $3 AND version = $4
               RETURNING version::text AS version`,
              [id, json, fence.epoch, fence.expectedVersion],
            );
      const row = rows[0];
      if (row !== undefined) return Number(row.version);
      const stored = await this.read(id);
      if (stored !== undefined && stored.epoch > fence.epoch) {
        throw new StaleEpochError(id, fence.epoch, stored.epoch);
      }
      const storedVersion = stored?.version ?? 0;
      if (storedVersion !== fence.expectedVersion || attempt >= MAX_ATTEMPTS) {
        throw new VersionConflictError(id, fence.expectedVersion, storedVersion);
      }
    }
  }

  async delete(id: ActorId, fence: SaveFence): Promise<void> {
    checkNumber('epoch', fence.epoch);
    const res = await this.pool.query(
      `UPDATE actor_state SET state = NULL, version = 0, epoch = $2, updated_at = now()
        WHERE identity = $1 AND epoch <= $2`,
      [id, fence.epoch],
    );
    if (res.rowCount !== 0) return;
    const stored = await this.read(id);
    if (stored !== undefined && stored.epoch > fence.epoch) {
      throw new StaleEpochError(id, fence.epoch, stored.epoch);
    }
    // No row: nothing to delete. (A row that appeared meanwhile belongs to a newer writer.)
  }

  /** What is stored (including claim-only rows and tombstones, as state undefined). */
  async peek(id: ActorId): Promise<StoredState | undefined> {
    return this.read(id);
  }

  /**
   * Removes claim-only rows and tombstones (state NULL) not touched for `olderThanMs`. Only safe
   * for identities whose stale owners are long gone: pick an age far beyond any rebalance.
   */
  async purgeTombstones(olderThanMs: number): Promise<number> {
    const res = await this.pool.query(
      `DELETE FROM actor_state
        WHERE state IS NULL AND updated_at < now() - $1::bigint * interval '1 millisecond'`,
      [Math.trunc(olderThanMs)],
    );
    return res.rowCount ?? 0;
  }

  private async read(id: ActorId): Promise<StoredState | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT state::text AS state, epoch::text AS epoch, version::text AS version
         FROM actor_state WHERE identity = $1`,
      [id],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : { state: fromJsonText(row.state), epoch: Number(row.epoch), version: Number(row.version) };
  }
}

/** A claim answers undefined until the identity has been saved once (as the memory store does). */
function toStored(row: Row): StoredState | undefined {
  const version = Number(row.version);
  if (version === 0) return undefined;
  return { state: fromJsonText(row.state), epoch: Number(row.epoch), version };
}

function checkNumber(what: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${what} must be a safe integer, got ${value}`);
  }
}

/** Indexes of the first occurrence of each id: a statement may touch a row only once. */
function uniqueIndexes(ids: readonly string[]): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (seen.has(ids[i]!)) continue;
    seen.add(ids[i]!);
    out.push(i);
  }
  return out;
}
