export { describeEnvelope, envelopeSize, framedSize } from './codec.ts';
export {
  FrameDecodeError,
  InvalidEnvelopeError,
  MessageTooLargeError,
  PeerBackpressureError,
  PeerRefusedError,
  SendToSelfError,
  TransportClosedError,
  TransportError,
} from './errors.ts';
export type { PeerState } from './outbound.ts';
export {
  DEFAULTS,
  type InboundPeerStats,
  type OutboundPeerStats,
  type PeerAddress,
  Transport,
  type TransportStats,
} from './transport.ts';
export type { Envelope, TlsOptions, TransportHandler, TransportOptions } from './types.ts';
