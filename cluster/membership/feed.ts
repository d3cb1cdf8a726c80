import type { Logger } from '../../runtime/logger.ts';
import type { Topology } from './types.ts';
import { EMPTY_TOPOLOGY } from './validate.ts';

/**
 * The listener side shared by the providers: holds the current topology, hands each newer one
 * to the listeners in strictly increasing epoch order (older or equal epochs are dropped), and
 * fires lease-lost listeners. Re-entrant calls (a listener that causes another topology) are
 * queued, so no listener ever sees epochs out of order. A throwing listener is logged and does
 * not stop the others.
 */
export class TopologyFeed {
  private latest: Topology = EMPTY_TOPOLOGY;
  private readonly changeListeners = new Set<(topology: Topology) => void>();
  private readonly leaseLostListeners = new Set<() => void>();
  private readonly queue: Topology[] = [];
  private draining = false;

  constructor(private readonly logger: Logger) {}

  current(): Topology {
    return this.latest;
  }

  /** Makes `topology` current and delivers it; false (and nothing happens) unless it is newer. */
  offer(topology: Topology): boolean {
    if (topology.epoch <= this.latest.epoch) return false;
    this.latest = topology;
    this.queue.push(topology);
    this.drain();
    return true;
  }

  onChange(listener: (topology: Topology) => void): () => void {
    // Wrapped so that the same function registered twice gets two subscriptions.
    const entry = (t: Topology) => listener(t);
    this.changeListeners.add(entry);
    return () => {
      this.changeListeners.delete(entry);
    };
  }

  onLeaseLost(listener: () => void): () => void {
    const entry = () => listener();
    this.leaseLostListeners.add(entry);
    return () => {
      this.leaseLostListeners.delete(entry);
    };
  }

  fireLeaseLost(): void {
    for (const listener of [...this.leaseLostListeners]) {
      try {
        listener();
      } catch (err) {
        this.logger.error({ err }, 'membership: onLeaseLost listener threw');
      }
    }
  }

  clearListeners(): void {
    this.changeListeners.clear();
    this.leaseLostListeners.clear();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        for (const listener of [...this.changeListeners]) {
          try {
            listener(next);
          } catch (err) {
            this.logger.error({ err, epoch: next.epoch }, 'membership: onChange listener threw');
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
