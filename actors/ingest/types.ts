/** One telemetry message, parsed and validated, before its device is resolved. */
export interface TelemetryReading {
  /**
   * The Gito tenant (the `{tenantId}` topic segment). For ChirpStack uplinks it is `''`: the
   * topic names no Gito tenant, so the device, and its tenant, are resolved later by `devEui`.
   */
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
  /** ChirpStack: the application id from the topic (for logs and auto-provisioning). */
  readonly applicationId?: string;
  /** ChirpStack: `deviceInfo.deviceName`, when the uplink carries one. */
  readonly deviceName?: string;
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
  | 'rate-limited'
  | 'device-disabled'
  /** A metric key is empty, too long, has control characters, or collides after flattening. */
  | 'bad-key';

/** Every BadInputReason, for metrics that export a zero for each label value. */
export const BAD_INPUT_REASONS = [
  'bad-topic',
  'oversize',
  'malformed-json',
  'not-an-object',
  'too-deep',
  'bad-timestamp',
  'out-of-range',
  'wrong-type',
  'empty',
  'unknown-tenant',
  'unknown-device',
  'rate-limited',
  'bad-key',
  'device-disabled',
] as const satisfies readonly BadInputReason[];

// Compile-time check that the list above names every reason.
type MissingReason = Exclude<BadInputReason, (typeof BAD_INPUT_REASONS)[number]>;
const _allReasonsListed: MissingReason extends never ? true : MissingReason = true;
void _allReasonsListed;

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
  /** Longest flattened metric key, UTF-16 code units. Default 128. */
  readonly maxKeyLength?: number;
  /** Longest string value, UTF-16 code units; longer ones are refused (`oversize`). Default 1024. */
  readonly maxStringLength?: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxPayloadBytes: 256 * 1024,
  maxDepth: 5,
  maxAbsValue: 1e10,
  maxMetrics: 1_000,
  maxKeyLength: 128,
  maxStringLength: 1_024,
};
