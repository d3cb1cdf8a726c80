/** One scheduled actor timer. Cancelled entries stay in the heap until they surface (lazy). */
export class TimerEntry {
  cancelled = false;
  constructor(
    readonly name: string,
    public due: number,
    readonly periodMs: number,
    readonly fire: (entry: TimerEntry) => void,
  ) {}
}

/**
 * All actor timers of a node in one binary min-heap, watched by a single Node timer armed for the
 * earliest entry. A Node `Timeout` plus its closure cost about 700 bytes per actor; with a million
 * device actors each holding a silence timer that alone would exceed the memory budget, while an
 * entry here costs under 100. Insertion is O(log n); cancelled entries are skipped when they
 * reach the top.
 */
export class TimerQueue {
  private heap: TimerEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private live = 0;

  schedule(
    name: string,
    delayMs: number,
    periodMs: number,
    fire: (entry: TimerEntry) => void,
  ): TimerEntry {
    const entry = new TimerEntry(name, Date.now() + Math.max(0, delayMs), periodMs, fire);
    this.push(entry);
    this.live++;
    return entry;
  }

  cancel(entry: TimerEntry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.live--;
    if (this.live === 0) this.reset();
  }

  /** Live (not cancelled) timers. */
  get size(): number {
    return this.live;
  }

  private push(entry: TimerEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.due <= entry.due) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    if (entry.due < this.armedFor) this.arm(entry.due);
  }

  private pop(): TimerEntry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]!.due < heap[left]!.due ? right : left;
      if (heap[child]!.due >= last.due) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }

  private arm(due: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(this.run, Math.max(0, due - Date.now()));
    // Timers of idle actors must not keep a process alive on their own.
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.due <= now) {
      const entry = this.pop()!;
      if (entry.cancelled) continue;
      if (entry.periodMs > 0) {
        entry.due = Math.max(entry.due + entry.periodMs, now);
        this.push(entry);
      } else {
        entry.cancelled = true;
        this.live--;
      }
      entry.fire(entry);
    }
    if (this.live === 0) this.reset();
    else if (heap.length > 0 && this.timer === undefined) this.arm(heap[0]!.due);
  };

  private reset(): void {
    this.heap = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }
}
