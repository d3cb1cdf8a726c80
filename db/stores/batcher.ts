/**
 * Coalesces calls made in the same tick into one batch (flushed on the next tick, or as soon as
 * `maxBatch` calls wait). Used where one multi-row statement is much cheaper than many
 * single-row ones: a rebalance claims and saves thousands of actors at once.
 */
export class Batcher<I, R> {
  private pending: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    /** Resolves with one result per item, in order. May reject as a whole. */
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxBatch = 1_000,
  ) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.run(batch.map((b) => b.item)).then(
      (results) => {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] as R);
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    );
  }
}
