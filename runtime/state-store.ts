import { StaleEpochError, VersionConflictError } from './errors.ts';
import type { ActorId } from './identity.ts';
import type { MaybePromise } from './maybe-promise.ts';

/** What the store holds for one identity. `state` is undefined when the row is only a claim. */
export interface StoredState {
  readonly state: unknown;
  /** The highest epoch that has claimed or written this identity (the fencing token). */
  readonly epoch: number;
  /** Increases by one on every successful save. 0 = never saved. */
  readonly version: number;
}

export interface SaveFence {
  /** The epoch under which the writer activated the identity. */
  readonly epoch: number;
  /** The version the writer loaded or last wrote; a mismatch means a concurrent writer. */
  readonly expectedVersion: number;
}

/**
 * Durable actor state, fenced by epoch.
 *
 * `claim` is called on activation: it records `epoch` as the identity's owner epoch (when higher
 * than the stored one) and returns what is stored. A claim or save with an epoch lower than the
 * stored epoch fails with StaleEpochError, so an old owner that still believes it hosts the actor
 * can never overwrite the newer owner's state.
 *
 * Methods may answer synchronously (memory) or with a promise (PostgreSQL); the runtime keeps a
 * promise-free fast path for the synchronous case.
 */
export interface StateStore {
  claim(id: ActorId, epoch: number): MaybePromise<StoredState | undefined>;
  /** Writes state; returns the new version. */
  save(id: ActorId, state: unknown, fence: SaveFence): MaybePromise<number>;
  delete(id: ActorId, fence: SaveFence): MaybePromise<void>;
}

interface MemoryRow {
  state: unknown;
  epoch: number;
  version: number;
}

/**
 * In-process StateStore. State is copied with structuredClone on the way in and out so that it
 * behaves like a real store: a restarted activation sees what was saved, not the live object.
 */
export class MemoryStateStore implements StateStore {
  private readonly rows = new Map<ActorId, MemoryRow>();

  claim(id: ActorId, epoch: number): StoredState | undefined {
    const row = this.rows.get(id);
    if (row === undefined) {
      this.rows.set(id, { state: undefined, epoch, version: 0 });
      return undefined;
    }
    if (row.epoch > epoch) throw new StaleEpochError(id, epoch, row.epoch);
    row.epoch = epoch;
    if (row.version === 0) return undefined;
    return { state: structuredClone(row.state), epoch: row.epoch, version: row.version };
  }

  save(id: ActorId, state: unknown, fence: SaveFence): number {
    const row = this.rows.get(id) ?? { state: undefined, epoch: fence.epoch, version: 0 };
    if (row.epoch > fence.epoch) throw new StaleEpochError(id, fence.epoch, row.epoch);
    if (row.version !== fence.expectedVersion) {
      throw new VersionConflictError(id, fence.expectedVersion, row.version);
    }
    row.state = structuredClone(state);
    row.epoch = fence.epoch;
    row.version += 1;
    this.rows.set(id, row);
    return row.version;
  }

  /** Deletes the state but keeps the epoch (a tombstone), so a stale owner cannot write it back. */
  delete(id: ActorId, fence: SaveFence): void {
    const row = this.rows.get(id);
    if (row === undefined) {
      this.rows.set(id, { state: undefined, epoch: fence.epoch, version: 0 });
      return;
    }
    if (row.epoch > fence.epoch) throw new StaleEpochError(id, fence.epoch, row.epoch);
    row.state = undefined;
    row.version = 0;
    row.epoch = fence.epoch;
  }

  /** Test and tooling helper: what is stored right now (a copy). */
  peek(id: ActorId): StoredState | undefined {
    const row = this.rows.get(id);
    return row === undefined
      ? undefined
      : { state: structuredClone(row.state), epoch: row.epoch, version: row.version };
  }

  get size(): number {
    return this.rows.size;
  }
}
