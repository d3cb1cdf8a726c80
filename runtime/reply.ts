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

/** A local ask: a promise plus its timeout timer. Settles once; later settles are ignored. */
export class PendingAsk<R = unknown> implements ReplyHandle {
  readonly promise: Promise<R>;
  readonly deadline: number;
  private settleResolve!: (value: R) => void;
  private settleReject!: (error: unknown) => void;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly actor: ActorId,
    private readonly messageType: string,
    private readonly timeoutMs: number,
  ) {
    this.deadline = Date.now() + timeoutMs;
    this.promise = new Promise<R>((resolve, reject) => {
      this.settleResolve = resolve;
      this.settleReject = reject;
    });
    this.timer = setTimeout(this.onTimeout, timeoutMs);
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined;
    this.reject(new AskTimeoutError(this.actor, this.messageType, this.timeoutMs));
  };

  resolve(value: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.settleResolve(value as R);
  }

  reject(error: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.settleReject(error);
  }
}
