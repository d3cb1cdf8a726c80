export type { ActivationHost, LifecycleEventType } from './activation.ts';
export { ReminderMessage } from './activation.ts';
export type { DeadLetter, DeadLetterReason, DeadLetterSink } from './dead-letters.ts';
export { MemoryDeadLetters } from './dead-letters.ts';
export type {
  ActorContext,
  ActorDefinition,
  AskOptions,
  Handlers,
  HandlersOf,
  Message,
  MessageOf,
  ReminderFired,
  ReminderOptions,
  ReplyOf,
  SupervisionOptions,
} from './definition.ts';
export { defineActor } from './definition.ts';
export * from './errors.ts';
export type { ActorId } from './identity.ts';
export { actorId, InvalidIdentityError, parseActorId } from './identity.ts';
export type { Logger } from './logger.ts';
export { silentLogger, stderrLogger } from './logger.ts';
export type { MaybePromise } from './maybe-promise.ts';
export type { Reminder, ReminderStore } from './reminder-store.ts';
export { MemoryReminderStore } from './reminder-store.ts';
export type { ReplyHandle } from './reply.ts';
export type { SaveFence, StateStore, StoredState } from './state-store.ts';
export { MemoryStateStore } from './state-store.ts';
export type { ActorSystemOptions, LifecycleEvent, Router } from './system.ts';
export { ActorRef, ActorSystem } from './system.ts';
