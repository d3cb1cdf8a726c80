import { ErrorCode } from '../proto/generated/gito/cluster/v1/cluster.ts';
import {
  ActivationFailedError,
  ActorRuntimeError,
  AskTimeoutError,
  DeadLetteredError,
  MailboxFullError,
  type Message,
  Rejection,
  ReminderMessage,
  SystemStoppedError,
  UnknownKindError,
  UnknownMessageError,
} from '../runtime/index.ts';

/**
 * Actor messages and replies cross the wire as JSON inside the protobuf envelope: actor messages
 * are plain data by contract (docs/writing-actors.md), and JSON keeps every actor type free of
 * schema registration. The runtime's reminder message is the one class instance, rebuilt here.
 */
export function encodeMessage(message: Message): Buffer {
  if (message instanceof ReminderMessage) {
    return Buffer.from(JSON.stringify({ type: message.type, fired: message.fired }));
  }
  return Buffer.from(JSON.stringify(message));
}

export function decodeMessage(bytes: Uint8Array): Message {
  const value = JSON.parse(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(),
  );
  if (typeof value !== 'object' || value === null || typeof value.type !== 'string') {
    throw new TypeError("remote message is not an object with a string 'type'");
  }
  if (value.type === '$reminder') return new ReminderMessage(value.fired);
  return value as Message;
}

export function encodeReply(value: unknown): Buffer {
  return value === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value));
}

export function decodeReply(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return undefined;
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString());
}

/** A message was forwarded more times than allowed (nodes disagree on the topology). */
export class HopLimitError extends ActorRuntimeError {
  override readonly name = 'HopLimitError';
  constructor(
    readonly actor: string,
    readonly hops: number,
  ) {
    super(`message to ${actor} was forwarded ${hops} times without reaching its owner`);
  }
}

/** An error that happened on another node and has no closer local type. */
export class RemoteActorError extends ActorRuntimeError {
  override readonly name: string = 'RemoteActorError';
  constructor(
    readonly code: ErrorCode,
    readonly remoteName: string,
    message: string,
  ) {
    super(message);
  }
}

export function errorToWire(err: unknown): { code: ErrorCode; message: string; errorName: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Rejection)
    return { code: ErrorCode.ERROR_CODE_REJECTED, message, errorName: err.code };
  const name = err instanceof Error ? err.name : 'Error';
  const code =
    err instanceof AskTimeoutError
      ? ErrorCode.ERROR_CODE_TIMEOUT
      : err instanceof MailboxFullError
        ? ErrorCode.ERROR_CODE_MAILBOX_FULL
        : err instanceof UnknownKindError
          ? ErrorCode.ERROR_CODE_UNKNOWN_KIND
          : err instanceof UnknownMessageError
            ? ErrorCode.ERROR_CODE_UNKNOWN_MESSAGE
            : err instanceof DeadLetteredError
              ? ErrorCode.ERROR_CODE_DEAD_LETTERED
              : err instanceof SystemStoppedError
                ? ErrorCode.ERROR_CODE_STOPPED
                : err instanceof ActivationFailedError
                  ? ErrorCode.ERROR_CODE_ACTIVATION_FAILED
                  : err instanceof HopLimitError
                    ? ErrorCode.ERROR_CODE_HOP_LIMIT
                    : ErrorCode.ERROR_CODE_INTERNAL;
  return { code, message, errorName: name };
}

/** Rebuilds the error a remote node reported, as the local type where callers test for one. */
export function errorFromWire(
  target: string,
  wire: { code: ErrorCode; message: string; errorName: string },
): Error {
  switch (wire.code) {
    case ErrorCode.ERROR_CODE_REJECTED:
      return new Rejection(wire.message, wire.errorName || 'rejected');
    case ErrorCode.ERROR_CODE_MAILBOX_FULL: {
      const capacity = Number(/capacity (\d+)/.exec(wire.message)?.[1] ?? 0);
      return new MailboxFullError(target, capacity);
    }
    case ErrorCode.ERROR_CODE_UNKNOWN_KIND:
      return new UnknownKindError(target, target.split('/')[0] ?? '');
    case ErrorCode.ERROR_CODE_UNKNOWN_MESSAGE: {
      const type = /message type '([^']*)'/.exec(wire.message)?.[1] ?? '?';
      return new UnknownMessageError(target, type);
    }
    case ErrorCode.ERROR_CODE_STOPPED:
      return new SystemStoppedError(target);
    default:
      return new RemoteActorError(wire.code, wire.errorName, wire.message);
  }
}
