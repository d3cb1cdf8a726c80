import type { DeadLetterReason } from './dead-letters.ts';
import type {
  ActorContext,
  AskOptions,
  Message,
  ReminderFired,
  ReminderOptions,
} from './definition.ts';
import {
  ActivationFailedError,
  DeadLetteredError,
  MailboxFullError,
  Rejection,
  StaleEpochError,
  UnknownMessageError,
} from './errors.ts';
import type { ActorId } from './identity.ts';
import type { KindRuntime } from './kind.ts';
import type { Logger } from './logger.ts';
import { isPromiseLike, type MaybePromise } from './maybe-promise.ts';
import type { ReplyHandle } from './reply.ts';
import type { StateStore, StoredState } from './state-store.ts';
import { restartDelayMs } from './supervision.ts';
import type { TimerEntry, TimerQueue } from './timer-queue.ts';

/** The activation's life: phases only move forward, except Active <-> Restarting. */
export const ACTIVATING = 0;
export const ACTIVE = 1;
export const RESTARTING = 2;
export const DEACTIVATING = 3;
export const STOPPED = 4;
export type Phase = 0 | 1 | 2 | 3 | 4;

/** Internal message delivering a durable reminder through the mailbox, so it takes a turn. */
export class ReminderMessage implements Message {
  readonly type = '$reminder';
  constructor(readonly fired: ReminderFired) {}
}

export type LifecycleEventType = 'activated' | 'restarted' | 'deactivated' | 'activation-failed';

/** What an activation needs from the system that hosts it. */
export interface ActivationHost {
  readonly logger: Logger;
  readonly store: StateStore;
  readonly timers: TimerQueue;
  /** Coarse clock (ms), refreshed at every drain. */
  now: number;
  schedule(activation: Activation): void;
  send(target: ActorId, message: Message, reply: ReplyHandle | undefined): void;
  ask<R>(target: ActorId, message: Message, options?: AskOptions): Promise<R>;
  setReminder(actor: ActorId, name: string, options: ReminderOptions): Promise<void>;
  clearReminder(actor: ActorId, name: string): Promise<void>;
  deadLetter(
    activation: Activation,
    message: Message,
    attempts: number,
    error: unknown,
    reason: DeadLetterReason,
  ): void;
  warnFailure(activation: Activation, message: Message, attempt: number, error: unknown): void;
  /** A message left a mailbox outside a run (failure, drain): the system may have gone idle. */
  messageLeft(): void;
  onAsyncTurn(delta: number): void;
  onActivating(delta: number): void;
  removed(activation: Activation): void;
  /** Messages still queued when an activation stopped: route them again (or dead-letter). */
  redispatch(activation: Activation, leftovers: Array<[Message, ReplyHandle | undefined]>): void;
  lifecycle(activation: Activation, type: LifecycleEventType): void;
}

const EMPTY: unknown[] = [];
const INITIAL_SLOTS = 4;

/**
 * One live instance of an identity. It is also the `ctx` handed to handlers, so a turn allocates
 * nothing. The mailbox is a ring buffer of (message, reply) pairs held inline, grown on demand up
 * to the kind's capacity; a tell stores `undefined` as its reply, so tells allocate no envelope.
 */
export class Activation implements ActorContext<unknown, Message> {
  state: unknown = undefined;
  phase: Phase = ACTIVATING;
  /** Set while queued on the system's ready list or while `run` is executing. */
  scheduled = false;
  /** An async handler is in flight: the next message waits for it. */
  running = false;
  lastActive = 0;
  /** Stored version this activation last loaded or wrote (optimistic concurrency). */
  version = 0;

  private inlineMessage: unknown = undefined;
  private inlineReply: unknown = undefined;
  private inlineFull = false;
  private buf: unknown[] = EMPTY;
  private head = 0;
  size = 0;
  private timers: TimerEntry | Map<string, TimerEntry> | undefined;
  private consecutiveFailures = 0;
  private headAttempts = 0;
  private restarts = 0;
  private deactivateRequested = false;
  private deactivation: Promise<void> | undefined;
  private settledWaiters: Array<() => void> | undefined;
  private saveChain: Promise<void> | undefined;
  private activatedOnce = false;

  constructor(
    readonly id: ActorId,
    readonly kind: string,
    readonly key: string,
    /** Fencing token: the topology epoch under which this activation claimed the identity. */
    readonly epoch: number,
    readonly rt: KindRuntime,
    private readonly host: ActivationHost,
  ) {}

  get log(): Logger {
    return this.host.logger;
  }

  // ---- mailbox -------------------------------------------------------------------------------

  enqueue(message: Message, reply: ReplyHandle | undefined): void {
    const rt = this.rt;
    const size = this.size;
    if (size >= rt.mailboxCapacity) {
      rt.stats.mailboxRejected++;
      throw new MailboxFullError(this.id, rt.mailboxCapacity);
    }
    if (size === 0) {
      // Most actors have at most one message waiting: it waits in two fields, not in a ring.
      this.inlineMessage = message;
      this.inlineReply = reply;
      this.inlineFull = true;
    } else {
      const ringSize = this.inlineFull ? size - 1 : size;
      let slots = this.buf.length >> 1;
      if (ringSize === slots) slots = this.grow(slots, ringSize);
      const at = ((this.head + ringSize) & (slots - 1)) << 1;
      this.buf[at] = message;
      this.buf[at + 1] = reply;
    }
    this.size = size + 1;
    rt.stats.mailboxDepth++;
    if (!this.scheduled && !this.running && this.phase === ACTIVE) {
      this.scheduled = true;
      this.host.schedule(this);
    }
  }

  private grow(slots: number, ringSize: number): number {
    const next = slots === 0 ? INITIAL_SLOTS : slots * 2;
    const buf = new Array<unknown>(next * 2);
    for (let i = 0; i < ringSize; i++) {
      const from = ((this.head + i) & (slots - 1)) << 1;
      buf[i * 2] = this.buf[from];
      buf[i * 2 + 1] = this.buf[from + 1];
    }
    this.buf = buf;
    this.head = 0;
    return next;
  }

  /** The message at the head (the inline slot comes first: it was enqueued first). */
  private headMessage(): Message {
    return (this.inlineFull ? this.inlineMessage : this.buf[this.head << 1]) as Message;
  }

  private headReply(): ReplyHandle | undefined {
    return (this.inlineFull ? this.inlineReply : this.buf[(this.head << 1) + 1]) as
      | ReplyHandle
      | undefined;
  }

  /** Removes the head without touching counters (the run loop counts in bulk). */
  private shift(): void {
    if (this.inlineFull) {
      this.inlineMessage = undefined;
      this.inlineReply = undefined;
      this.inlineFull = false;
    } else {
      const at = this.head << 1;
      this.buf[at] = undefined;
      this.buf[at + 1] = undefined;
      this.head = (this.head + 1) & ((this.buf.length >> 1) - 1);
    }
    this.size--;
  }

  private dequeue(): void {
    this.shift();
    this.rt.stats.mailboxDepth--;
    this.host.messageLeft();
  }

  private drainMailbox(): Array<[Message, ReplyHandle | undefined]> {
    const out: Array<[Message, ReplyHandle | undefined]> = [];
    while (this.size > 0) {
      out.push([this.headMessage(), this.headReply()]);
      this.dequeue();
    }
    return out;
  }

  // ---- turns ---------------------------------------------------------------------------------

  /**
   * Processes up to `max` messages. Synchronous handlers run back to back without touching a
   * promise; the first handler that returns a thenable ends the run until it settles.
   * Returns how many messages it took a turn on.
   */
  run(max: number): number {
    const host = this.host;
    const rt = this.rt;
    const handlers = rt.handlers;
    let n = 0;
    // Messages taken off the ring in this run whose counters are not yet updated: the counters
    // are shared per kind and per node, so they are touched once per run, not once per message.
    let taken = 0;
    let processed = 0;
    while (this.size > 0 && this.phase === ACTIVE && n < max) {
      const message = this.headMessage();
      const reply = this.headReply();
      n++;
      if (reply !== undefined && reply.deadline < host.now) {
        // The asker has already timed out; running the handler would only waste the turn.
        this.shift();
        taken++;
        rt.stats.expired++;
        continue;
      }
      const sample = (++rt.stats.turns & 63) === 0;
      const t0 = sample ? performance.now() : 0;
      let result: unknown;
      try {
        const handler = handlers[message.type];
        result =
          handler !== undefined ? handler(this as never, message as never) : this.system(message);
      } catch (err) {
        this.counted(taken, processed);
        this.failed(message, reply, err);
        return n;
      }
      if (isPromiseLike(result)) {
        this.counted(taken, processed);
        this.running = true;
        host.onAsyncTurn(1);
        const start = sample ? t0 : performance.now();
        result.then(
          (value) => this.asyncSettled(message, reply, value, undefined, start, false),
          (err: unknown) => this.asyncSettled(message, reply, undefined, err, start, true),
        );
        this.scheduled = false;
        return n;
      }
      if (sample) rt.stats.observe((performance.now() - t0) / 1000);
      this.shift();
      taken++;
      processed++;
      if (this.headAttempts !== 0 || this.consecutiveFailures !== 0) {
        this.headAttempts = 0;
        this.consecutiveFailures = 0;
      }
      if (reply !== undefined) reply.resolve(result);
      if (this.deactivateRequested) break;
    }
    this.counted(taken, processed);
    this.lastActive = host.now;
    this.scheduled = false;
    if (this.deactivateRequested) {
      void this.passivate('requested');
    } else if (this.size > 0 && this.phase === ACTIVE) {
      this.scheduled = true;
      host.schedule(this);
    } else if (this.size === 0 && this.buf.length === INITIAL_SLOTS * 2) {
      // A small ring left from an occasional pair of messages: idle actors should not keep it.
      this.buf = EMPTY;
      this.head = 0;
    }
    return n;
  }

  private counted(taken: number, processed: number): void {
    if (taken === 0) return;
    this.rt.stats.mailboxDepth -= taken;
    this.rt.stats.messages += processed;
  }

  private succeeded(reply: ReplyHandle | undefined, result: unknown): void {
    this.dequeue();
    this.rt.stats.messages++;
    this.headAttempts = 0;
    this.consecutiveFailures = 0;
    if (reply !== undefined) reply.resolve(result);
  }

  private asyncSettled(
    message: Message,
    reply: ReplyHandle | undefined,
    value: unknown,
    err: unknown,
    start: number,
    failed: boolean,
  ): void {
    this.running = false;
    this.rt.stats.observe((performance.now() - start) / 1000);
    if (failed) this.failed(message, reply, err);
    else this.succeeded(reply, value);
    this.host.onAsyncTurn(-1);
    this.lastActive = Date.now();
    this.notifySettled();
    if (this.deactivateRequested) {
      void this.passivate('requested');
    } else if (this.size > 0 && this.phase === ACTIVE && !this.scheduled) {
      this.scheduled = true;
      this.host.schedule(this);
    }
  }

  /** Messages the actor's handlers do not cover: runtime messages, or an unknown type. */
  private system(message: Message): unknown {
    if (message instanceof ReminderMessage) {
      const onReminder = this.rt.definition.onReminder;
      if (onReminder !== undefined) return onReminder(this, message.fired);
    }
    throw new UnknownMessageError(this.id, String(message.type));
  }

  // ---- supervision ---------------------------------------------------------------------------

  private failed(message: Message, reply: ReplyHandle | undefined, err: unknown): void {
    const rt = this.rt;
    if (err instanceof Rejection) {
      // A domain refusal: the asker learns why; nothing is wrong with the actor.
      this.dequeue();
      this.headAttempts = 0;
      if (reply !== undefined) reply.reject(err);
      this.rescheduleAfterFailure();
      return;
    }
    if (err instanceof UnknownMessageError) {
      this.dequeue();
      rt.stats.failures++;
      this.host.deadLetter(this, message, 1, err, 'unknown-message');
      if (reply !== undefined) reply.reject(err);
      this.rescheduleAfterFailure();
      return;
    }
    rt.stats.failures++;
    this.headAttempts++;
    this.consecutiveFailures++;
    this.host.warnFailure(this, message, this.headAttempts, err);
    if (this.headAttempts >= rt.supervision.maxAttempts) {
      const attempts = this.headAttempts;
      this.dequeue();
      this.headAttempts = 0;
      this.host.deadLetter(this, message, attempts, err, 'handler-failed');
      if (reply !== undefined) {
        reply.reject(new DeadLetteredError(this.id, String(message.type), attempts, err));
      }
    }
    if (this.consecutiveFailures >= rt.supervision.restartAfterFailures) {
      this.restart();
    } else {
      this.rescheduleAfterFailure();
    }
  }

  private rescheduleAfterFailure(): void {
    this.scheduled = false;
    if (this.size > 0 && this.phase === ACTIVE && !this.running) {
      this.scheduled = true;
      this.host.schedule(this);
    }
  }

  /** Throws away in-memory state and reloads it from the store after a backoff delay. */
  private restart(): void {
    this.rt.stats.restarts++;
    this.restarts++;
    this.phase = RESTARTING;
    this.scheduled = false;
    this.clearTimers();
    const delay = restartDelayMs(this.rt.supervision, this.restarts);
    setTimeout(() => {
      if (this.phase === RESTARTING) this.start();
    }, delay);
  }

  // ---- activation ----------------------------------------------------------------------------

  /** Loads (claims) state and runs onActivate; synchronous end to end when the store is. */
  start(): void {
    const restarting = this.phase === RESTARTING;
    this.phase = ACTIVATING;
    this.host.onActivating(1);
    if (!this.rt.persistent) {
      this.loaded(undefined, restarting);
      return;
    }
    let stored: MaybePromise<StoredState | undefined>;
    try {
      stored = this.host.store.claim(this.id, this.epoch);
    } catch (err) {
      this.activationFailed(err);
      return;
    }
    if (isPromiseLike(stored)) {
      stored.then(
        (s) => this.loaded(s, restarting),
        (err: unknown) => this.activationFailed(err),
      );
    } else {
      this.loaded(stored, restarting);
    }
  }

  private loaded(stored: StoredState | undefined, restarting: boolean): void {
    if (this.phase !== ACTIVATING) return;
    try {
      if (stored !== undefined && stored.version > 0) {
        this.state = stored.state;
        this.version = stored.version;
      } else {
        this.state = this.rt.definition.initialState(this.key);
        this.version = stored?.version ?? 0;
      }
      const onActivate = this.rt.definition.onActivate;
      const done = onActivate === undefined ? undefined : onActivate(this);
      if (isPromiseLike(done)) {
        done.then(
          () => this.becameActive(restarting),
          (err: unknown) => this.activationFailed(err),
        );
        return;
      }
    } catch (err) {
      this.activationFailed(err);
      return;
    }
    this.becameActive(restarting);
  }

  private becameActive(restarting: boolean): void {
    if (this.phase !== ACTIVATING) return;
    this.host.onActivating(-1);
    this.phase = ACTIVE;
    this.lastActive = Date.now();
    if (!this.activatedOnce) {
      this.activatedOnce = true;
      this.rt.stats.activations++;
    }
    this.host.lifecycle(this, restarting ? 'restarted' : 'activated');
    this.notifySettled();
    if (this.deactivateRequested) {
      void this.passivate('requested');
    } else if (this.size > 0 && !this.scheduled) {
      this.scheduled = true;
      this.host.schedule(this);
    }
  }

  private activationFailed(err: unknown): void {
    if (this.phase === ACTIVATING) this.host.onActivating(-1);
    this.rt.stats.activationFailures++;
    this.phase = STOPPED;
    this.clearTimers();
    this.host.removed(this);
    this.host.lifecycle(this, 'activation-failed');
    this.host.logger.error(
      { actor: this.id, err: err instanceof Error ? err.message : String(err) },
      'activation failed',
    );
    const leftovers = this.drainMailbox();
    if (err instanceof StaleEpochError) {
      // Another node owns this identity now: send the messages its way.
      this.host.redispatch(this, leftovers);
    } else {
      const failure = new ActivationFailedError(this.id, err);
      for (const [message, reply] of leftovers) {
        this.host.deadLetter(this, message, 0, failure, 'activation-failed');
        if (reply !== undefined) reply.reject(failure);
      }
    }
    this.notifySettled();
  }

  // ---- passivation ---------------------------------------------------------------------------

  /** Passivates: waits for the current turn, runs onDeactivate, saves state, leaves. Idempotent. */
  passivate(reason: string): Promise<void> {
    this.deactivateRequested = true;
    this.deactivation ??= this.runDeactivation(reason);
    return this.deactivation;
  }

  private async runDeactivation(reason: string): Promise<void> {
    while (this.phase === ACTIVATING || this.running) await this.settled();
    if (this.phase === STOPPED) return;
    const skipSave = this.phase === RESTARTING;
    this.phase = DEACTIVATING;
    this.clearTimers();
    if (!skipSave) {
      try {
        await this.rt.definition.onDeactivate?.(this);
      } catch (err) {
        this.rt.stats.failures++;
        this.host.logger.warn({ actor: this.id, reason, err: String(err) }, 'onDeactivate failed');
      }
      if (this.rt.persistent) {
        try {
          await this.save();
        } catch (err) {
          this.host.logger.error(
            { actor: this.id, reason, err: err instanceof Error ? err.message : String(err) },
            'state not saved on passivation',
          );
        }
      }
    }
    this.phase = STOPPED;
    this.rt.stats.passivations++;
    this.host.removed(this);
    this.host.lifecycle(this, 'deactivated');
    if (this.size > 0) this.host.redispatch(this, this.drainMailbox());
  }

  private settled(): Promise<void> {
    return new Promise((resolve) => {
      this.settledWaiters ??= [];
      this.settledWaiters.push(resolve);
    });
  }

  private notifySettled(): void {
    const waiters = this.settledWaiters;
    if (waiters === undefined) return;
    this.settledWaiters = undefined;
    for (const w of waiters) w();
  }

  // ---- ActorContext --------------------------------------------------------------------------

  /** From a handler: passivate once the current turn ends. */
  deactivate(): void {
    this.deactivateRequested = true;
    if (!this.scheduled && !this.running) void this.passivate('requested');
  }

  tell<T extends Message>(target: ActorId, message: T): void {
    this.host.send(target, message, undefined);
  }

  ask<R = unknown, T extends Message = Message>(
    target: ActorId,
    message: T,
    options?: AskOptions,
  ): Promise<R> {
    return this.host.ask<R>(target, message, options);
  }

  save(): Promise<void> {
    const previous = this.saveChain ?? Promise.resolve();
    const next = previous.then(() => this.persistNow());
    // Keep the chain alive after a failure so later saves still run; the caller sees the error.
    const chain = next.then(
      () => undefined,
      () => undefined,
    );
    this.saveChain = chain;
    // Drop the settled chain so an idle actor does not keep a promise alive.
    void chain.then(() => {
      if (this.saveChain === chain) this.saveChain = undefined;
    });
    return next;
  }

  private persistNow(): MaybePromise<void> {
    if (!this.rt.persistent) return;
    const written = this.host.store.save(this.id, this.state, {
      epoch: this.epoch,
      expectedVersion: this.version,
    });
    if (isPromiseLike(written)) {
      return written.then((v) => {
        this.version = v;
      });
    }
    this.version = written;
  }

  setTimer(name: string, delayMs: number, message: Message, options?: { repeat?: boolean }): void {
    if (this.phase === DEACTIVATING || this.phase === STOPPED) return;
    this.clearTimer(name);
    const period = options?.repeat === true ? Math.max(1, delayMs) : 0;
    const entry = this.host.timers.schedule(name, delayMs, period, (fired) => {
      if (period === 0) this.forgetTimer(fired);
      if (this.phase !== ACTIVE && this.phase !== ACTIVATING) return;
      try {
        this.enqueue(message, undefined);
      } catch (err) {
        this.host.logger.warn(
          { actor: this.id, timer: name, err: String(err) },
          'timer message dropped',
        );
      }
    });
    // One timer (the common case) is held without a Map.
    const timers = this.timers;
    if (timers === undefined) this.timers = entry;
    else if (timers instanceof Map) timers.set(name, entry);
    else
      this.timers = new Map([
        [timers.name, timers],
        [name, entry],
      ]);
  }

  clearTimer(name: string): void {
    const entry = this.findTimer(name);
    if (entry === undefined) return;
    this.host.timers.cancel(entry);
    this.forgetTimer(entry);
  }

  hasTimer(name: string): boolean {
    return this.findTimer(name) !== undefined;
  }

  private findTimer(name: string): TimerEntry | undefined {
    const timers = this.timers;
    if (timers === undefined) return undefined;
    if (timers instanceof Map) return timers.get(name);
    return timers.name === name ? timers : undefined;
  }

  private forgetTimer(entry: TimerEntry): void {
    const timers = this.timers;
    if (timers === entry) this.timers = undefined;
    else if (timers instanceof Map && timers.get(entry.name) === entry) {
      timers.delete(entry.name);
      if (timers.size === 0) this.timers = undefined;
    }
  }

  private clearTimers(): void {
    const timers = this.timers;
    if (timers === undefined) return;
    if (timers instanceof Map) for (const entry of timers.values()) this.host.timers.cancel(entry);
    else this.host.timers.cancel(timers);
    this.timers = undefined;
  }

  setReminder(name: string, options: ReminderOptions): Promise<void> {
    return this.host.setReminder(this.id, name, options);
  }

  clearReminder(name: string): Promise<void> {
    return this.host.clearReminder(this.id, name);
  }
}
