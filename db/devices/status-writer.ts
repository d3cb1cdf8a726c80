import type { Pool } from 'pg';
import { sanitizeText } from '../stores/json.ts';

export type DeviceConnectivity = 'unknown' | 'online' | 'offline';

/**
 * Changes to a device's stored status; absent fields are left as they are. The device is named
 * by `deviceId`, or by `tenantId` + `deviceKey` (devices.external_id), as device actors know it
 * (this shape accepts actors/device's DeviceStatusReport; its rssi and snr are not stored).
 */
export interface DeviceStatusUpdate {
  /** devices.id (safe integer, or the bigint as a decimal string). */
  readonly deviceId?: number | string;
  readonly tenantId?: string;
  readonly deviceKey?: string;
  readonly status?: DeviceConnectivity;
  /** Shorthand for status 'online' / 'offline' (status wins when both are given). */
  readonly online?: boolean;
  /** ms since epoch. Stored last_seen only moves forward (a stale owner cannot rewind it). */
  readonly lastSeen?: number | null;
  /** Percent; clamped to 0..100, null when not a finite number. */
  readonly battery?: number | null;
  readonly firmware?: string | null;
}

export interface DeviceStatusWriterOptions {
  /** How often pending changes are written; default 1000 ms. */
  flushIntervalMs?: number;
  /** Devices per UPDATE statement (a flush uses more statements only beyond this); 10,000. */
  maxRowsPerStatement?: number;
  log?: (message: string) => void;
}

export class DeviceStatusWriterStats {
  /** update() calls. */
  updates = 0;
  /** update() calls merged into a change already pending for the same device. */
  coalesced = 0;
  /** UPDATE statements run. */
  statements = 0;
  /** Device rows changed (unchanged values and unknown ids do not count). */
  rowsUpdated = 0;
  /** Flushes that failed (their changes are kept and retried with the next flush). */
  failures = 0;
}

const STATUS = 1;
const LAST_SEEN = 2;
const BATTERY = 4;
const FIRMWARE = 8;
const STATUSES = new Set<string>(['unknown', 'online', 'offline']);
const MAX_FIRMWARE = 256;

interface Change {
  mask: number;
  status: DeviceConnectivity | null;
  lastSeen: number | null;
  battery: number | null;
  firmware: string | null;
}

/** The UPDATE for rows matched by id (`by = 'id'`) or by (tenant_id, external_id). */
function updateSql(by: 'id' | 'key'): string {
  const ref =
    by === 'id'
      ? { cols: 'x.id', types: '$1::bigint[]', names: 'id', where: 'd.id = u.id' }
      : {
          cols: 'x.tenant_id, x.external_id',
          types: '$1::text[], $7::text[]',
          names: 'tenant_id, external_id',
          where: 'd.tenant_id = u.tenant_id AND d.external_id = u.external_id',
        };
  return `UPDATE devices AS d SET
    status    = CASE WHEN u.m & ${STATUS} <> 0 THEN u.status ELSE d.status END,
    last_seen = CASE WHEN u.m & ${LAST_SEEN} <> 0 THEN greatest(d.last_seen, u.seen) ELSE d.last_seen END,
    battery   = CASE WHEN u.m & ${BATTERY} <> 0 THEN u.battery ELSE d.battery END,
    firmware  = CASE WHEN u.m & ${FIRMWARE} <> 0 THEN u.firmware ELSE d.firmware END
  FROM (SELECT ${ref.cols}, x.m, x.status,
               timestamptz 'epoch' + x.seen_ms * interval '1 millisecond' AS seen,
               x.battery, x.firmware
          FROM unnest(${ref.types}, $2::int[], $3::text[], $4::bigint[], $5::real[], $6::text[])
            AS x(${ref.names}, m, status, seen_ms, battery, firmware)) AS u
 WHERE ${ref.where}
   AND (   (u.m & ${STATUS} <> 0 AND d.status IS DISTINCT FROM u.status)
        OR (u.m & ${LAST_SEEN} <> 0 AND u.seen IS NOT NULL
            AND (d.last_seen IS NULL OR d.last_seen < u.seen))
        OR (u.m & ${BATTERY} <> 0 AND d.battery IS DISTINCT FROM u.battery)
        OR (u.m & ${FIRMWARE} <> 0 AND d.firmware IS DISTINCT FROM u.firmware))`;
}
const UPDATE_BY_ID = updateSql('id');
const UPDATE_BY_KEY = updateSql('key');

/**
 * Batched writes of devices.status / last_seen / battery / firmware from device actors.
 *
 * update() only records the change in memory, merged with any change pending for the same
 * device (the latest value of each field wins); every `flushIntervalMs` the pending changes go
 * out as one `UPDATE ... FROM unnest(...)` (one per way of naming devices that is in use: by id,
 * by tenant and key), in a stable order (so two nodes lock rows in the same order), skipping rows
 * whose values would not change. A failed flush keeps its changes (newer ones win) for the next.
 * Name a device one way only: changes by id and by key are not merged with each other.
 *
 * The live status is in the device actor; this table copy is for queries and a correct start.
 * Callers should send transitions and changes, not every message (device actors hand over at
 * most one report per snapshot period).
 */
export class DeviceStatusWriter {
  readonly stats = new DeviceStatusWriterStats();
  private byId = new Map<number | string, Change>();
  /** `${tenantId}:${deviceKey}` (tenant ids have no ':'). */
  private byKey = new Map<string, Change>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly maxRows: number;
  private readonly log: (message: string) => void;

  constructor(
    private readonly pool: Pool,
    options: DeviceStatusWriterOptions = {},
  ) {
    this.maxRows = Math.max(1, options.maxRowsPerStatement ?? 10_000);
    this.log = options.log ?? (() => {});
    this.timer = setInterval(() => {
      this.flush().catch(() => {});
    }, options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Devices with unsaved changes. */
  get pending(): number {
    return this.byId.size + this.byKey.size;
  }

  /** Records a change (synchronous, cheap); throws on a device reference that names nothing. */
  update(u: DeviceStatusUpdate): void {
    if (this.closed) throw new Error('device status writer is closed');
    let map: Map<number | string, Change>;
    let ref: number | string;
    if (u.deviceId !== undefined) {
      const id = normaliseId(u.deviceId);
      if (id === undefined)
        throw new TypeError(`device id ${String(u.deviceId)} is not an integer`);
      map = this.byId;
      ref = id;
    } else if (typeof u.tenantId === 'string' && typeof u.deviceKey === 'string') {
      if (u.tenantId.length === 0 || u.tenantId.includes(':')) {
        throw new TypeError(`tenant id '${u.tenantId}' is not a tenant id`);
      }
      map = this.byKey;
      ref = `${u.tenantId}:${u.deviceKey}`;
    } else {
      throw new TypeError('a status update needs deviceId, or tenantId and deviceKey');
    }
    this.stats.updates++;
    let change = map.get(ref);
    if (change === undefined) {
      change = { mask: 0, status: null, lastSeen: null, battery: null, firmware: null };
      map.set(ref, change);
    } else this.stats.coalesced++;
    const status =
      u.status !== undefined
        ? u.status
        : u.online === undefined
          ? undefined
          : u.online
            ? 'online'
            : 'offline';
    if (status !== undefined && STATUSES.has(status)) {
      change.mask |= STATUS;
      change.status = status;
    }
    if (u.lastSeen !== undefined && u.lastSeen !== null && Number.isFinite(u.lastSeen)) {
      const seen = Math.trunc(u.lastSeen);
      change.lastSeen = (change.mask & LAST_SEEN) === 0 ? seen : Math.max(change.lastSeen!, seen);
      change.mask |= LAST_SEEN;
    }
    if (u.battery !== undefined) {
      change.mask |= BATTERY;
      change.battery =
        u.battery === null || !Number.isFinite(u.battery)
          ? null
          : Math.min(100, Math.max(0, u.battery));
    }
    if (u.firmware !== undefined) {
      change.mask |= FIRMWARE;
      change.firmware =
        u.firmware === null ? null : sanitizeText(String(u.firmware)).slice(0, MAX_FIRMWARE);
    }
  }

  /** Writes what is pending now (waits for a flush in progress first). */
  async flush(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing.catch(() => {});
    if (this.pending === 0) return;
    const byId = this.byId;
    const byKey = this.byKey;
    this.byId = new Map();
    this.byKey = new Map();
    const run = (async () => {
      let failure: unknown;
      if (byId.size > 0) {
        await this.write(byId, this.byId, 'id').catch((err: unknown) => {
          failure = err;
        });
      }
      if (byKey.size > 0) {
        await this.write(byKey, this.byKey, 'key').catch((err: unknown) => {
          failure ??= err;
        });
      }
      if (failure !== undefined) throw failure;
    })();
    this.flushing = run;
    try {
      await run;
    } finally {
      this.flushing = undefined;
    }
  }

  /** Writes what is pending and stops the timer. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private async write<K extends number | string>(
    batch: Map<K, Change>,
    requeue: Map<K, Change>,
    by: 'id' | 'key',
  ): Promise<void> {
    const entries = [...batch].sort(([a], [b]) =>
      by === 'id' ? compareIds(a, b) : a < b ? -1 : a > b ? 1 : 0,
    );
    let done = 0;
    try {
      for (; done < entries.length; done += this.maxRows) {
        const slice = entries.slice(done, done + this.maxRows);
        const params: unknown[] = [
          by === 'id'
            ? slice.map(([id]) => id)
            : slice.map(([k]) => (k as string).slice(0, (k as string).indexOf(':'))),
          slice.map(([, c]) => c.mask),
          slice.map(([, c]) => c.status),
          slice.map(([, c]) => c.lastSeen),
          slice.map(([, c]) => c.battery),
          slice.map(([, c]) => c.firmware),
        ];
        if (by === 'key') {
          params.push(slice.map(([k]) => (k as string).slice((k as string).indexOf(':') + 1)));
        }
        this.stats.statements++;
        const res = await this.pool.query(by === 'id' ? UPDATE_BY_ID : UPDATE_BY_KEY, params);
        this.stats.rowsUpdated += res.rowCount ?? 0;
      }
    } catch (err) {
      this.stats.failures++;
      // Keep what was not written; changes made since then are newer and win field by field.
      for (const [ref, old] of entries.slice(done)) {
        const newer = requeue.get(ref);
        requeue.set(ref, newer === undefined ? old : merge(old, newer));
      }
      this.log(
        `device status flush failed (${entries.length - done} devices kept): ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
      throw err;
    }
  }
}

function merge(older: Change, newer: Change): Change {
  const out = { ...older, mask: older.mask | newer.mask };
  if (newer.mask & STATUS) out.status = newer.status;
  if (newer.mask & LAST_SEEN) out.lastSeen = Math.max(older.lastSeen ?? 0, newer.lastSeen ?? 0);
  if (newer.mask & BATTERY) out.battery = newer.battery;
  if (newer.mask & FIRMWARE) out.firmware = newer.firmware;
  return out;
}

function normaliseId(id: number | string): number | string | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) ? id : undefined;
  if (typeof id !== 'string' || !/^-?[0-9]{1,19}$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : BigInt(id).toString();
}

function compareIds(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
