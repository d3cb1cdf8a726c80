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

  /**
   * The peer left the cluster. Asks it had not answered get `graceMs` more (a node leaving on
   * purpose forwards what it held, and the new owner answers the asker directly), then fail
   * with `error` rather than waiting for their whole deadline.
   */
  failPeerAfter(peer: string, graceMs: number, error: () => Error): void {
    const ids: number[] = [];
    for (const [id, entry] of this.waiting) if (entry.peer === peer) ids.push(id);
    if (ids.length === 0) return;
    const timer = setTimeout(() => {
      for (const id of ids) this.take(id)?.reject(error());
    }, graceMs);
    timer.unref();
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
