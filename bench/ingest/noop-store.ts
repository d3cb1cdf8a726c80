import type { ActorId, SaveFence, StateStore, StoredState } from '../../runtime/index.ts';

/**
 * A state store that keeps nothing in this process, as the PostgreSQL one does: every claim finds
 * nothing, every save succeeds (version + 1). Synchronous, so it costs the runtime only the calls.
 */
export class NoopStateStore implements StateStore {
  saves = 0;
  claim(_id: ActorId, _epoch: number): StoredState | undefined {
    return undefined;
  }
  save(_id: ActorId, _state: unknown, fence: SaveFence): number {
    this.saves++;
    return fence.expectedVersion + 1;
  }
  delete(_id: ActorId, _fence: SaveFence): void {}
}
