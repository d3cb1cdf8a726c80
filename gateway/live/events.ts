/**
 * The live event bus: what the WebSocket stream pushes to dashboards. The process that hosts the
 * gateway publishes device status changes and alert events into it (from device transitions and
 * the alert outbox); the stream subscribes per tenant. In-process here; a cluster can bridge it
 * (e.g. Redis pub/sub into publish()) without the stream knowing.
 */

export const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** 'device.status', or 'alert.<what happened>' (alert.opened, alert.acknowledged, ...). */
export type LiveEventType = 'device.status' | `alert.${string}`;

export interface LiveEvent {
  readonly type: LiveEventType;
  readonly tenantId: string;
  /** Epoch ms. */
  readonly at: number;
  /** The device concerned (device.status, per-device alerts). */
  readonly deviceKey?: string;
  /** More devices concerned (aggregate alerts). */
  readonly devices?: readonly string[];
  /** Group names the devices belong to, when the publisher knows them. */
  readonly groups?: readonly string[];
  /** Alerts only. */
  readonly severity?: Severity;
  /** The payload: status fields, or the alert (id, rule, state, values...). Never secrets. */
  readonly data: Readonly<Record<string, unknown>>;
}

export type LiveListener = (event: LiveEvent) => void;

export interface LiveEvents {
  publish(event: LiveEvent): void;
  /** Listens to one tenant's events; returns the function that stops listening. */
  subscribe(tenantId: string, listener: LiveListener): () => void;
}

/**
 * Synchronous fan-out to the tenant's listeners. A throwing listener is reported to `onError` and
 * does not keep the event from the others.
 */
export class InProcessLiveEvents implements LiveEvents {
  private readonly listeners = new Map<string, Set<LiveListener>>();

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  publish(event: LiveEvent): void {
    const listeners = this.listeners.get(event.tenantId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  subscribe(tenantId: string, listener: LiveListener): () => void {
    let set = this.listeners.get(tenantId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(tenantId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(tenantId);
      current?.delete(listener);
      if (current?.size === 0) this.listeners.delete(tenantId);
    };
  }

  /** Listeners of a tenant (for tests and metrics). */
  listenerCount(tenantId?: string): number {
    if (tenantId !== undefined) return this.listeners.get(tenantId)?.size ?? 0;
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
