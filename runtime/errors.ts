import type { ActorId } from './identity.ts';

/** Base class so callers can tell runtime errors from handler errors. */
export class ActorRuntimeError extends Error {}

/** An `ask` did not get its reply before its deadline. */
export class AskTimeoutError extends ActorRuntimeError {
  override readonly name = 'AskTimeoutError';
  constructor(
    readonly actor: ActorId,
    readonly messageType: string,
    readonly timeoutMs: number,
  ) {
    super(`ask '${messageType}' to ${actor} timed out after ${timeoutMs} ms`);
  }
}

/** The target's mailbox is at capacity; the message was not enqueued. */
export class MailboxFullError extends ActorRuntimeError {
  override readonly name = 'MailboxFullError';
  constructor(
    readonly actor: ActorId,
    readonly capacity: number,
  ) {
    super(`mailbox of ${actor} is full (capacity ${capacity}); message rejected`);
  }
}

/** No actor type is registered for the identity's kind. */
export class UnknownKindError extends ActorRuntimeError {
  override readonly name = 'UnknownKindError';
  constructor(
    readonly actor: ActorId,
    readonly kind: string,
  ) {
    super(`no actor kind '${kind}' is registered (message to ${actor})`);
  }
}

/** The actor type has no handler for the message's `type`. */
export class UnknownMessageError extends ActorRuntimeError {
  override readonly name = 'UnknownMessageError';
  constructor(
    readonly actor: ActorId,
    readonly messageType: string,
  ) {
    super(`${actor} has no handler for message type '${messageType}'`);
  }
}

/** The system is shutting down or stopped and takes no new messages from outside. */
export class SystemStoppedError extends ActorRuntimeError {
  override readonly name = 'SystemStoppedError';
  constructor(readonly actor: ActorId) {
    super(`actor system is shutting down; message to ${actor} refused`);
  }
}

/** The message failed on every allowed attempt and was moved to the dead-letter sink. */
export class DeadLetteredError extends ActorRuntimeError {
  override readonly name = 'DeadLetteredError';
  constructor(
    readonly actor: ActorId,
    readonly messageType: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `message '${messageType}' to ${actor} failed ${attempts} time(s) and was dead-lettered: ${describe(cause)}`,
    );
  }
}

/** Loading state or running onActivate failed; queued messages were not processed. */
export class ActivationFailedError extends ActorRuntimeError {
  override readonly name = 'ActivationFailedError';
  constructor(
    readonly actor: ActorId,
    override readonly cause: unknown,
  ) {
    super(`activation of ${actor} failed: ${describe(cause)}`);
  }
}

/**
 * A state write or claim carried an epoch older than the one already stored: another node owns
 * the identity now (fencing). The stale writer must stop hosting the actor.
 */
export class StaleEpochError extends ActorRuntimeError {
  override readonly name = 'StaleEpochError';
  constructor(
    readonly actor: ActorId,
    readonly epoch: number,
    readonly storedEpoch: number,
  ) {
    super(`stale epoch ${epoch} for ${actor}: store holds epoch ${storedEpoch}`);
  }
}

/** A write's expected version did not match the stored one (concurrent writer in one epoch). */
export class VersionConflictError extends ActorRuntimeError {
  override readonly name = 'VersionConflictError';
  constructor(
    readonly actor: ActorId,
    readonly expectedVersion: number,
    readonly storedVersion: number,
  ) {
    super(`version conflict for ${actor}: expected ${expectedVersion}, stored ${storedVersion}`);
  }
}

/**
 * Thrown by a handler to refuse a message as a domain decision (bad input, invalid state).
 * It goes straight back to the asker: no retry, no restart, no dead letter.
 */
export class Rejection extends Error {
  override readonly name = 'Rejection';
  constructor(
    message: string,
    readonly code = 'rejected',
  ) {
    super(message);
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
