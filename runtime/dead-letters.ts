import type { ActorId } from './identity.ts';
import type { MaybePromise } from './maybe-promise.ts';

export interface DeadLetter {
  readonly actor: ActorId;
  readonly messageType: string;
  readonly message: unknown;
  readonly attempts: number;
  readonly error: string;
  /** Why it ended here: the handler kept failing, no handler, activation failed, shutdown... */
  readonly reason: DeadLetterReason;
  readonly at: number;
}

export type DeadLetterReason =
  | 'handler-failed'
  | 'unknown-message'
  | 'activation-failed'
  | 'shutdown'
  | 'undeliverable';

/** Where messages that could not be processed go, so an operator can read them. */
export interface DeadLetterSink {
  add(letter: DeadLetter): MaybePromise<void>;
  /** Most recent first. */
  list(options?: { limit?: number; actor?: ActorId }): MaybePromise<readonly DeadLetter[]>;
}

/** Bounded in-memory sink: keeps the newest `capacity` letters and counts the ones it evicted. */
export class MemoryDeadLetters implements DeadLetterSink {
  private readonly letters: DeadLetter[] = [];
  evicted = 0;

  constructor(private readonly capacity = 10_000) {}

  add(letter: DeadLetter): void {
    this.letters.push(letter);
    if (this.letters.length > this.capacity) {
      this.letters.shift();
      this.evicted += 1;
    }
  }

  list(options: { limit?: number; actor?: ActorId } = {}): DeadLetter[] {
    const { limit = 100, actor } = options;
    const out: DeadLetter[] = [];
    for (let i = this.letters.length - 1; i >= 0 && out.length < limit; i--) {
      const letter = this.letters[i]!;
      if (actor === undefined || letter.actor === actor) out.push(letter);
    }
    return out;
  }
}
