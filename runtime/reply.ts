import { AskTimeoutError } from './errors.ts';
import type { ActorId } from './identity.ts';

/**
 * Where a reply goes. Local asks use PendingAsk; the cluster's transport supplies its own handle
 * for asks that arrived over the wire. `deadline` (ms since epoch) travels with the message: a
 * message whose deadline passed before its turn is skipped, since its asker has given up.
 */
export interface ReplyHandle {
  readonly deadline: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Deadlines of all pending asks with one timeout value, in a FIFO (same timeout, so deadlines
 * are in order) watched by a single timer: arming and clearing a Node timer per ask cost about a
 * third of a local ask's round trip. Settled asks leave the FIFO when they reach its head, which
 * for asks answered in order (the common case) is immediately.
 */
class DeadlineQueue {
  private items: Array<PendingAsk<unknown>> = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  push(ask: PendingAsk<unknown>): void {
    this.items.push(ask);
    if (this.timer === undefined) this.arm(ask.deadline);
  }

  /** An ask settled: drop it, and any settled ones behind it, from the head. */
  settled(ask: PendingAsk<unknown>): void {
    if (this.items[this.head] !== ask) return;
    this.dropSettled();
  }

  private dropSettled(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.done) this.head++;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
      if (this.timer !== undefined) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(this.expire, Math.max(0, deadline - Date.now()));
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    const items = this.items;
    while (this.head < items.length) {
      const ask = items[this.head]!;
      if (!ask.done) {
        if (ask.deadline > now) break;
        ask.timedOut(this.timeoutMs);
      }
      this.head++;
    }
    this.dropSettled();
    if (this.head < this.items.length && this.timer === undefined) {
      this.arm(this.items[this.head]!.deadline);
    }
  };
}

const queues = new Map<number, DeadlineQueue>();

function queueFor(timeoutMs: number): DeadlineQueue {
  let queue = queues.get(timeoutMs);
  if (queue === undefined) {
    queue = new DeadlineQueue(timeoutMs);
    queues.set(timeoutMs, queue);
  }
  return queue;
}

/** A local ask: a promise plus its deadline. Settles once; later settles are ignored. */
export class PendingAsk<R = unknown> implements ReplyHandle {
  readonly promise: Promise<R>;
  readonly deadline: number;
  done = false;
  private settleResolve!: (value: R) => void;
  private settleReject!: (error: unknown) => void;
  private readonly queue: DeadlineQueue;

  constructor(
    private readonly actor: ActorId,
    private readonly messageType: string,
    timeoutMs: number,
  ) {
    this.deadline = Date.now() + timeoutMs;
    this.promise = new Promise<R>((resolve, reject) => {
      this.settleResolve = resolve;
      this.settleReject = reject;
    });
    this.queue = queueFor(timeoutMs);
    this.queue.push(this as PendingAsk<unknown>);
  }

  /** Called by the deadline queue. */
  timedOut(timeoutMs: number): void {
    if (this.done) return;
    this.done = true;
    this.settleReject(new AskTimeoutError(this.actor, this.messageType, timeoutMs));
  }

  resolve(value: unknown): void {
    if (this.done) return;
    this.done = true;
    this.settleResolve(value as R);
    this.queue.settled(this as PendingAsk<unknown>);
  }

  reject(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.settleReject(error);
    this.queue.settled(this as PendingAsk<unknown>);
  }
}
