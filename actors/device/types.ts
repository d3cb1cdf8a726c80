/** Metric values a device may report (strings and booleans are kept, as ThingsBoard does). */
export type MetricValue = number | string | boolean;

/** Messages a device actor accepts. Identity: `device/{tenantId}:{deviceKey}`. */
export type DeviceMessage =
  /** A reading that was accepted by ingestion (already validated). */
  | {
      readonly type: 'telemetry';
      readonly ts: number;
      readonly metrics: Readonly<Record<string, MetricValue>>;
      readonly receivedAt: number;
    }
  /** Query: the live status (the gateway reads devices through this). */
  | { readonly type: 'status' }
  /**
   * Internal: the device's one timer fired (silence check, and the periodic snapshot). Also the
   * wake-up `wakeDevices` sends: it activates the device (which then gets a full silence period)
   * and otherwise only re-checks and re-arms the same timer.
   */
  | { readonly type: 'checkOffline' }
  /** Internal: a rule needs evaluating without a reading (a `for` ending, `missing`, retries). */
  | { readonly type: 'rulesTick' }
  /** Internal: rules appeared for the device's tenant; load what evaluation needs. */
  | { readonly type: 'rulesRefresh' }
  /** A rule actor committed the device's report `seq` for `ruleId`. */
  | { readonly type: 'ruleAck'; readonly ruleId: string; readonly seq: number }
  /** The device's groups, tags or attributes changed (sent by the API). */
  | { readonly type: 'profileChanged' };

export interface MetricReading {
  readonly value: MetricValue;
  /** Time of the reading (device time if it sent one). */
  readonly ts: number;
}

/** What `status` answers: the device's cached live status. */
export interface DeviceStatus {
  readonly tenantId: string;
  readonly deviceKey: string;
  readonly online: boolean;
  /** Receive time of the last message (ms), or null if never seen. */
  readonly lastSeen: number | null;
  readonly metrics: Readonly<Record<string, MetricReading>>;
  readonly battery: number | null;
  readonly rssi: number | null;
  readonly snr: number | null;
  readonly firmware: string | null;
  readonly messages: number;
}

/** An online/offline transition, for other parts of the system to react to (rules, live stream). */
export interface DeviceTransition {
  readonly tenantId: string;
  readonly deviceKey: string;
  readonly online: boolean;
  readonly at: number;
  /** 'telemetry' (came online), 'silence' (offline after the configured quiet time). */
  readonly reason: 'telemetry' | 'silence';
}

export interface DeviceEventSink {
  transition(event: DeviceTransition): void;
}

/**
 * The device row fields a device actor keeps current in the database (devices.status, last_seen,
 * battery, firmware; rssi and snr for whoever wants them). Handed over at most once per snapshot
 * period per device, at every transition, and on passivation: last_seen in the table lags by up
 * to the snapshot period (the live value is the actor's status).
 */
export interface DeviceStatusReport {
  readonly tenantId: string;
  readonly deviceKey: string;
  readonly online: boolean;
  readonly lastSeen: number | null;
  readonly battery: number | null;
  readonly firmware: string | null;
  readonly rssi: number | null;
  readonly snr: number | null;
}

/**
 * Receives status updates; called synchronously from the actor's turn, so an implementation
 * buffers and writes in batches (keeping only the newest update per device). Errors it throws
 * are logged and do not affect the actor.
 */
export interface DeviceStatusSink {
  update(update: DeviceStatusReport): void;
}
