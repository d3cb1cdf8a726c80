import type { ReplyHandle } from '../runtime/index.ts';

interface Waiting {
  readonly handle: ReplyHandle;
  readonly peer: string;
}

/**
 * Asks this node sent to other nodes, by correlation id. The reply handle carries its own
 * timeout (the caller always hears back by its deadline); this table only has to forget entries
 * whose deadline passed, which a periodic sweep does.
 */
export class RemoteAsks {
  private readonly waiting = new Map<number, Waiting>();
  private next = 1;
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepIntervalMs = 1_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  register(handle: ReplyHandle, peer: string): number {
    const id = this.next++;
    this.waiting.set(id, { handle, peer });
    return id;
  }

  take(id: number): ReplyHandle | undefined {
    const entry = this.waiting.get(id);
    if (entry === undefined) return undefined;
    this.waiting.delete(id);
    return entry.handle;
  }

  /** Rejects every ask waiting on `peer` (it restarted or left: its replies will never come). */
  failPeer(peer: string, error: (handle: ReplyHandle) => Error): number {
    let failed = 0;
    for (const [id, entry] of this.waiting) {
      if (entry.peer !== peer) continue;
      this.waiting.delete(id);
      entry.handle.reject(error(entry.handle));
      failed++;
    }
    return failed;
  }

  get size(): number {
    return this.waiting.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.waiting) {
      if (entry.handle.deadline < now - 1_000) this.waiting.delete(id);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
