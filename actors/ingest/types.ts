/** One telemetry message, parsed and validated, before its device is resolved. */
export interface TelemetryReading {
  readonly tenantId: string;
  /** The device's id within its tenant (the `{deviceId}` topic segment). Absent for ChirpStack. */
  readonly deviceKey?: string;
  /** ChirpStack uplinks identify the device by DevEUI (16 hex digits, lower case). */
  readonly devEui?: string;
  /** Device time if the payload carried one, else the receive time (ms since epoch). */
  readonly ts: number;
  /** Flattened metrics: `SI7021__Temperature` for nested objects. */
  readonly metrics: Readonly<Record<string, number | string | boolean>>;
  readonly source: 'mqtt' | 'chirpstack' | 'http';
}

/** Why an input was dropped; each reason is a metric label value (bounded set). */
export type BadInputReason =
  | 'bad-topic'
  | 'oversize'
  | 'malformed-json'
  | 'not-an-object'
  | 'too-deep'
  | 'bad-timestamp'
  | 'out-of-range'
  | 'wrong-type'
  | 'empty'
  | 'unknown-tenant'
  | 'unknown-device'
  | 'rate-limited';

export type ParseResult =
  | { readonly ok: true; readonly reading: TelemetryReading }
  | { readonly ok: false; readonly reason: BadInputReason; readonly detail: string };

export interface IngestLimits {
  /** Largest payload accepted, bytes. Default 256 KiB. */
  readonly maxPayloadBytes: number;
  /** Deepest nesting flattened. Default 5. */
  readonly maxDepth: number;
  /** Numbers beyond ±this are refused. Default 1e10. */
  readonly maxAbsValue: number;
  /** Most metrics one message may carry. Default 1000. */
  readonly maxMetrics: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxPayloadBytes: 256 * 1024,
  maxDepth: 5,
  maxAbsValue: 1e10,
  maxMetrics: 1_000,
};
