import type { ActorId } from './identity.ts';
import type { Logger } from './logger.ts';
import type { MaybePromise } from './maybe-promise.ts';

/** Every actor message is a plain object discriminated by `type`. */
export interface Message {
  readonly type: string;
}

/** A reminder firing, handed to `onReminder`. */
export interface ReminderFired {
  readonly name: string;
  /** When it was planned to fire (ms since epoch). */
  readonly dueAt: number;
  readonly periodMs?: number | undefined;
  readonly data?: unknown;
}

export interface AskOptions {
  /** Deadline relative to now; the system default applies when omitted. */
  readonly timeoutMs?: number;
}

export interface ReminderOptions {
  /** First firing, relative to now. Exactly one of dueInMs / at is required. */
  readonly dueInMs?: number;
  /** First firing as an absolute time (ms since epoch or Date). */
  readonly at?: number | Date;
  /** Fire again every periodMs after the first firing. */
  readonly periodMs?: number;
  readonly data?: unknown;
}

/** What a handler may do besides changing `ctx.state`. */
export interface ActorContext<S, M extends Message = Message> {
  readonly id: ActorId;
  readonly kind: string;
  readonly key: string;
  /** The actor's state: mutate it or replace it. Saved on passivation and by `save()`. */
  state: S;
  readonly log: Logger;
  /** Send to another actor (or to self, which queues behind the current turn). */
  tell<T extends Message>(target: ActorId, message: T): void;
  ask<R = unknown, T extends Message = Message>(
    target: ActorId,
    message: T,
    options?: AskOptions,
  ): Promise<R>;
  /** Queue a message to self after `delayMs`; a timer dies with the activation. */
  setTimer(name: string, delayMs: number, message: M, options?: { repeat?: boolean }): void;
  clearTimer(name: string): void;
  hasTimer(name: string): boolean;
  /** Durable wake-up that survives passivation, crashes and moves; see onReminder. */
  setReminder(name: string, options: ReminderOptions): Promise<void>;
  clearReminder(name: string): Promise<void>;
  /** Persist the state now (a checkpoint); resolves once stored. */
  save(): Promise<void>;
  /** Passivate after the current turn. */
  deactivate(): void;
}

/** One handler per message type; the handler's return value is the reply to an `ask`. */
export type Handlers<S, M extends Message> = {
  readonly [K in M['type']]: (ctx: ActorContext<S, M>, message: Extract<M, { type: K }>) => unknown;
};

export interface SupervisionOptions {
  /** Attempts per message before it is dead-lettered. */
  readonly maxAttempts: number;
  /** Consecutive failures after which the activation restarts from its stored state. */
  readonly restartAfterFailures: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface ActorDefinition<S, M extends Message, H extends Handlers<S, M> = Handlers<S, M>> {
  readonly kind: string;
  /** State for an identity that has none stored yet. */
  initialState(key: string): S;
  readonly handlers: H;
  onActivate?(ctx: ActorContext<S, M>): MaybePromise<void>;
  onDeactivate?(ctx: ActorContext<S, M>): MaybePromise<void>;
  onReminder?(ctx: ActorContext<S, M>, reminder: ReminderFired): MaybePromise<void>;
  /** false: never load or save state (a stateless worker). Default true. */
  readonly persistent?: boolean;
  readonly mailboxCapacity?: number;
  /** Idle time before passivation; 0 disables idle passivation for this kind. */
  readonly idleTimeoutMs?: number;
  readonly supervision?: Partial<SupervisionOptions>;
}

/**
 * Declares an actor type. Curried so the state and message union are written once and the
 * handlers' reply types are inferred:
 *
 *   const counter = defineActor<{ n: number }, CounterMsg>()({ kind: 'counter', ... });
 */
export function defineActor<S, M extends Message>() {
  return <H extends Handlers<S, M>>(
    definition: ActorDefinition<S, M, H>,
  ): ActorDefinition<S, M, H> => definition;
}

/** The reply type of message type K: what its handler returns, awaited. */
export type ReplyOf<H, K extends PropertyKey> = K extends keyof H
  ? H[K] extends (...args: never[]) => infer R
    ? Awaited<R>
    : never
  : never;

export type MessageOf<D> = D extends ActorDefinition<infer _S, infer M, infer _H> ? M : never;
export type HandlersOf<D> = D extends ActorDefinition<infer _S, infer _M, infer H> ? H : never;
