/** Base class of the errors the transport throws to its caller. */
export class TransportError extends Error {}

/**
 * The envelope cannot fit in one frame. Thrown by `send` before anything is queued; retrying
 * cannot help (split the payload, or raise maxFrameBytes on every node).
 */
export class MessageTooLargeError extends TransportError {
  override readonly name = 'MessageTooLargeError';
  constructor(
    readonly peer: string,
    /** What the envelope is: `tell to device/acme:pump-17`, `reply 42`, ... */
    readonly what: string,
    /** Bytes the envelope takes inside a frame (encoded size plus its 2-6 byte field header). */
    readonly size: number,
    readonly maxFrameBytes: number,
  ) {
    super(
      `${what} for peer ${peer} is ${size} bytes encoded, more than maxFrameBytes ${maxFrameBytes}; not sent`,
    );
  }
}

/**
 * Too much is already waiting for this peer (the stream is backpressured or disconnected).
 * Nothing was queued; the caller may retry later, like a full mailbox.
 */
export class PeerBackpressureError extends TransportError {
  override readonly name = 'PeerBackpressureError';
  constructor(
    readonly peer: string,
    /** Envelopes (or bytes, per `unit`) already queued for the peer. */
    readonly queued: number,
    readonly limit: number,
    readonly unit: 'envelopes' | 'bytes',
  ) {
    super(
      `peer ${peer} is backpressured: ${queued} ${unit} queued (limit ${limit}); message rejected`,
    );
  }
}

/**
 * The peer refused our stream, or we refused its Hello: different protocol or placement hash
 * version, another node id at the peer's address, or not a Gito node. Thrown by `send` until a
 * later handshake with the peer succeeds (the transport keeps retrying at the slowest backoff).
 */
export class PeerRefusedError extends TransportError {
  override readonly name = 'PeerRefusedError';
  constructor(
    readonly peer: string,
    readonly reason: string,
  ) {
    super(`stream to peer ${peer} was refused: ${reason}`);
  }
}

/** The transport is closing or closed and sends nothing more. */
export class TransportClosedError extends TransportError {
  override readonly name = 'TransportClosedError';
  constructor(readonly peer: string) {
    super(`transport is closed; message to peer ${peer} not sent`);
  }
}

/** An envelope that cannot be encoded: no body, two bodies, a number out of its field's range. */
export class InvalidEnvelopeError extends TransportError {
  override readonly name = 'InvalidEnvelopeError';
}

/** A frame that does not parse; the stream it came on is closed. */
export class FrameDecodeError extends TransportError {
  override readonly name = 'FrameDecodeError';
}

/** `send` to this node itself: the cluster layer delivers local messages without the transport. */
export class SendToSelfError extends TransportError {
  override readonly name = 'SendToSelfError';
  constructor(readonly node: string) {
    super(`node ${node} cannot send to itself over the transport; deliver locally`);
  }
}
