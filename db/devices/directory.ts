import type { Pool } from 'pg';

/** What ingestion learns about a (tenant, device key): the row to write telemetry for, or why not. */
export type DeviceResolution =
  | {
      readonly ok: true;
      /** devices.id */
      readonly deviceId: number;
      /** devices.enabled: a disabled device's telemetry is for the caller to drop. */
      readonly enabled: boolean;
      /** This lookup created the device (tenant with auto_provision_devices). */
      readonly provisioned: boolean;
    }
  | { readonly ok: false; readonly reason: 'unknown-tenant' | 'unknown-device' };

/** A ChirpStack uplink's device, found by DevEUI alone (unique across tenants). */
export type DevEuiResolution =
  | {
      readonly ok: true;
      readonly tenantId: string;
      readonly deviceKey: string;
      readonly deviceId: number;
      readonly enabled: boolean;
    }
  | { readonly ok: false; readonly reason: 'unknown-device' };

export interface DeviceDirectoryOptions {
  /** How long a found device is trusted (then re-read); default 10 min. */
  positiveTtlMs?: number;
  /** How long "unknown tenant / device" is remembered; default 30 s. */
  negativeTtlMs?: number;
  /** How long a tenant's existence and auto-provision flag are trusted; default 60 s. */
  tenantTtlMs?: number;
  /** Found devices kept in memory, at most; default 2,000,000 (~80 B each). */
  maxEntries?: number;
  /** Negative entries kept, at most (a flood of made-up keys must not grow memory); 100,000. */
  maxNegativeEntries?: number;
  /** Lookups per query; concurrent misses are coalesced into one query. Default 1000. */
  maxBatch?: number;
  /** Clock, for tests; default Date.now. */
  now?: () => number;
  log?: (message: string) => void;
}

export class DeviceDirectoryStats {
  /** Answers from memory (positive or negative). */
  hits = 0;
  /** Lookups that went to the database. */
  misses = 0;
  /** Queries run (lookups, provisioning, preloads). */
  queries = 0;
  /** Devices created by auto-provisioning. */
  provisioned = 0;
  unknownTenant = 0;
  unknownDevice = 0;
}

interface TenantInfo {
  readonly exists: boolean;
  readonly autoProvision: boolean;
  readonly expiresAt: number;
}

interface Negative {
  readonly reason: 'unknown-tenant' | 'unknown-device';
  readonly expiresAt: number;
}

interface EuiEntry {
  readonly tenantId: string;
  readonly deviceKey: string;
  /** Negative when the device is disabled (see encode()). */
  readonly code: number;
  readonly expiresAt: number;
}

interface Pending<R> {
  readonly promise: Promise<R>;
  resolve(result: R): void;
  reject(err: unknown): void;
}

/** The check of devices.external_id (no '/', '+', '#', white space or controls; 1..128). */
const DEVICE_KEY = /^[^/+#\s\p{Cc}]{1,128}$/u;
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEV_EUI = /^[0-9a-f]{16}$/;

const DEVICE_COLUMNS = 'd.id::text AS id, d.tenant_id, d.external_id, d.enabled, d.dev_eui';

interface DeviceRow {
  id: string;
  tenant_id: string;
  external_id: string;
  enabled: boolean;
  dev_eui: string | null;
}

/**
 * Resolves telemetry sources to device rows, with an in-memory cache in front of `devices`:
 * (tenantId, deviceKey) for `{tenantId}/devices/{deviceId}/telemetry`, and DevEUI for ChirpStack.
 *
 *   const hit = directory.peek(tenantId, key) ?? (await directory.resolve(tenantId, key));
 *   if (!hit.ok) countBadInput(hit.reason); // 'unknown-tenant' | 'unknown-device'
 *
 * - peek() answers from memory only (synchronously), resolve() goes to the database on a miss.
 *   Concurrent misses are coalesced: one query per `maxBatch` keys, one per key in flight.
 * - Found devices are cached for `positiveTtlMs` in two generations of plain Maps (a number per
 *   key, no per-entry object): a generation turns over every ttl/2 or when it holds half of
 *   `maxEntries`, and the older one is dropped. So a device is re-read at most `positiveTtlMs`
 *   after it was loaded (it may have been deleted or disabled elsewhere), memory stays bounded,
 *   and nothing is scanned for expiry.
 * - Unknown tenants and devices are cached for `negativeTtlMs`, FIFO-bounded.
 * - A tenant with auto_provision_devices gets the device created on first sight (INSERT ... ON
 *   CONFLICT DO NOTHING, then a read of what a concurrent node created), result `provisioned`.
 *   A key the devices table would refuse (format) resolves to 'unknown-device'.
 * - preload() reads a tenant's (or every) device in pages, for a node start.
 */
export class DeviceDirectory {
  readonly stats = new DeviceDirectoryStats();

  private readonly positiveTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly tenantTtlMs: number;
  private readonly generationMax: number;
  private readonly maxNegative: number;
  private readonly maxBatch: number;
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  /** 'tenant:key' -> encoded device (see encode()); two generations. */
  private young = new Map<string, number>();
  private old = new Map<string, number>();
  private youngSince: number;
  private readonly negative = new Map<string, Negative>();
  private readonly tenants = new Map<string, TenantInfo>();
  private readonly euis = new Map<string, EuiEntry>();

  private readonly pendingKeys = new Map<string, Pending<DeviceResolution>>();
  private queuedKeys: string[] = [];
  private readonly pendingEuis = new Map<string, Pending<DevEuiResolution>>();
  private queuedEuis: string[] = [];
  private scheduled = false;

  constructor(
    private readonly pool: Pool,
    options: DeviceDirectoryOptions = {},
  ) {
    this.positiveTtlMs = options.positiveTtlMs ?? 600_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 30_000;
    this.tenantTtlMs = options.tenantTtlMs ?? 60_000;
    this.generationMax = Math.max(1, Math.floor((options.maxEntries ?? 2_000_000) / 2));
    this.maxNegative = Math.max(1, options.maxNegativeEntries ?? 100_000);
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.youngSince = this.now();
  }

  /** Found devices in memory (both generations; a key may count twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The cached answer, or undefined when only the database can tell. Synchronous. */
  peek(tenantId: string, deviceKey: string): DeviceResolution | undefined {
    const key = `${tenantId}:${deviceKey}`;
    const found = this.getPositive(key);
    if (found !== undefined) {
      this.stats.hits++;
      return decode(found, false);
    }
    const neg = this.negative.get(key);
    if (neg !== undefined) {
      if (neg.expiresAt > this.now()) {
        this.stats.hits++;
        this.countUnknown(neg.reason);
        return { ok: false, reason: neg.reason };
      }
      this.negative.delete(key);
    }
    return undefined;
  }

  /** Resolves (tenantId, deviceKey), from memory or the database; may auto-provision. */
  resolve(tenantId: string, deviceKey: string): Promise<DeviceResolution> {
    const cached = this.peek(tenantId, deviceKey);
    if (cached !== undefined) return Promise.resolve(cached);
    if (!TENANT_ID.test(tenantId)) {
      this.stats.hits++;
      this.countUnknown('unknown-tenant');
      return Promise.resolve({ ok: false, reason: 'unknown-tenant' });
    }
    const key = `${tenantId}:${deviceKey}`;
    const pending = this.pendingKeys.get(key);
    if (pending !== undefined) return pending.promise;
    const created = deferred<DeviceResolution>();
    this.pendingKeys.set(key, created);
    this.queuedKeys.push(key);
    this.schedule();
    return created.promise;
  }

  /** The cached answer for a DevEUI, or undefined. Synchronous. */
  peekDevEui(devEui: string): DevEuiResolution | undefined {
    const eui = devEui.toLowerCase();
    const entry = this.euis.get(eui);
    if (entry !== undefined) {
      if (entry.expiresAt > this.now()) {
        this.stats.hits++;
        const d = decode(entry.code, false);
        return {
          ok: true,
          tenantId: entry.tenantId,
          deviceKey: entry.deviceKey,
          deviceId: d.deviceId,
          enabled: d.enabled,
        };
      }
      this.euis.delete(eui);
    }
    const neg = this.negative.get(`#${eui}`);
    if (neg !== undefined) {
      if (neg.expiresAt > this.now()) {
        this.stats.hits++;
        this.countUnknown('unknown-device');
        return { ok: false, reason: 'unknown-device' };
      }
      this.negative.delete(`#${eui}`);
    }
    return undefined;
  }

  /** Resolves a DevEUI (16 hex digits, any case) to its device and tenant. */
  resolveDevEui(devEui: string): Promise<DevEuiResolution> {
    const cached = this.peekDevEui(devEui);
    if (cached !== undefined) return Promise.resolve(cached);
    const eui = devEui.toLowerCase();
    if (!DEV_EUI.test(eui)) {
      this.stats.hits++;
      this.countUnknown('unknown-device');
      return Promise.resolve({ ok: false, reason: 'unknown-device' });
    }
    const pending = this.pendingEuis.get(eui);
    if (pending !== undefined) return pending.promise;
    const created = deferred<DevEuiResolution>();
    this.pendingEuis.set(eui, created);
    this.queuedEuis.push(eui);
    this.schedule();
    return created.promise;
  }

  /**
   * Loads every device of `tenantId` (or of all tenants) into memory, `pageSize` rows per query;
   * returns how many. For a node start: the first messages then find their devices in memory.
   */
  async preload(tenantId?: string, pageSize = 50_000): Promise<number> {
    if (tenantId !== undefined) await this.loadTenants([tenantId]);
    let after = '0';
    let total = 0;
    for (;;) {
      this.stats.queries++;
      const { rows } = await this.pool.query<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices d
          WHERE ($1::text IS NULL OR d.tenant_id = $1) AND d.id > $2::bigint
          ORDER BY d.id LIMIT $3`,
        [tenantId ?? null, after, pageSize],
      );
      for (const row of rows) this.remember(row);
      total += rows.length;
      if (rows.length < pageSize) return total;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Forgets a device (after deleting or disabling it here), or every entry of a tenant. */
  invalidate(tenantId: string, deviceKey?: string): void {
    if (deviceKey !== undefined) {
      const key = `${tenantId}:${deviceKey}`;
      this.young.delete(key);
      this.old.delete(key);
      this.negative.delete(key);
      for (const [eui, e] of this.euis) {
        if (e.tenantId === tenantId && e.deviceKey === deviceKey) this.euis.delete(eui);
      }
      return;
    }
    this.tenants.delete(tenantId);
    const prefix = `${tenantId}:`;
    for (const map of [this.young, this.old, this.negative]) {
      for (const key of map.keys()) if (key.startsWith(prefix)) map.delete(key);
    }
    for (const [eui, e] of this.euis) if (e.tenantId === tenantId) this.euis.delete(eui);
  }

  /** Forgets everything cached. */
  clear(): void {
    this.young.clear();
    this.old.clear();
    this.negative.clear();
    this.tenants.clear();
    this.euis.clear();
  }

  private getPositive(key: string): number | undefined {
    this.rotate();
    return this.young.get(key) ?? this.old.get(key);
  }

  private setPositive(key: string, code: number): void {
    this.rotate();
    if (this.young.size >= this.generationMax) this.turnOver();
    this.young.set(key, code);
  }

  private rotate(): void {
    if (this.now() - this.youngSince >= this.positiveTtlMs / 2) this.turnOver();
  }

  private turnOver(): void {
    const now = this.now();
    // A generation older than a whole TTL is expired as well: drop both.
    this.old = now - this.youngSince >= this.positiveTtlMs ? new Map() : this.young;
    this.young = new Map();
    this.youngSince = now;
  }

  private setNegative(key: string, reason: Negative['reason']): void {
    this.negative.delete(key);
    if (this.negative.size >= this.maxNegative) {
      const oldest = this.negative.keys().next();
      if (!oldest.done) this.negative.delete(oldest.value);
    }
    this.negative.set(key, { reason, expiresAt: this.now() + this.negativeTtlMs });
  }

  private remember(row: DeviceRow): number {
    const code = encode(row.id, row.enabled);
    const key = `${row.tenant_id}:${row.external_id}`;
    this.setPositive(key, code);
    this.negative.delete(key);
    if (row.dev_eui !== null) {
      this.euis.delete(row.dev_eui);
      if (this.euis.size >= this.generationMax * 2) {
        const oldest = this.euis.keys().next();
        if (!oldest.done) this.euis.delete(oldest.value);
      }
      this.euis.set(row.dev_eui, {
        tenantId: row.tenant_id,
        deviceKey: row.external_id,
        code,
        expiresAt: this.now() + this.positiveTtlMs,
      });
      this.negative.delete(`#${row.dev_eui}`);
    }
    return code;
  }

  private countUnknown(reason: Negative['reason']): void {
    if (reason === 'unknown-tenant') this.stats.unknownTenant++;
    else this.stats.unknownDevice++;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  /** Runs the queued lookups in batches of maxBatch. */
  private async drain(): Promise<void> {
    while (this.queuedKeys.length > 0) {
      const keys = this.queuedKeys.splice(0, this.maxBatch);
      await this.lookupKeys(keys).catch((err: unknown) => {
        for (const k of keys) this.pendingKeys.get(k)?.reject(err);
      });
      for (const k of keys) this.pendingKeys.delete(k);
    }
    while (this.queuedEuis.length > 0) {
      const euis = this.queuedEuis.splice(0, this.maxBatch);
      await this.lookupEuis(euis).catch((err: unknown) => {
        for (const e of euis) this.pendingEuis.get(e)?.reject(err);
      });
      for (const e of euis) this.pendingEuis.delete(e);
    }
  }

  private async lookupKeys(keys: string[]): Promise<void> {
    this.stats.misses += keys.length;
    const split = keys.map((k) => {
      const at = k.indexOf(':');
      return { key: k, tenantId: k.slice(0, at), deviceKey: k.slice(at + 1) };
    });
    const tenants = await this.loadTenants([...new Set(split.map((s) => s.tenantId))]);
    const answer = (key: string, result: DeviceResolution) => {
      if (!result.ok) {
        this.setNegative(key, result.reason);
        this.countUnknown(result.reason);
      }
      this.pendingKeys.get(key)?.resolve(result);
    };
    const known = split.filter((s) => {
      if (tenants.get(s.tenantId)?.exists) return true;
      answer(s.key, { ok: false, reason: 'unknown-tenant' });
      return false;
    });
    if (known.length === 0) return;
    this.stats.queries++;
    const { rows } = await this.pool.query<DeviceRow>(
      `SELECT ${DEVICE_COLUMNS}
         FROM unnest($1::text[], $2::text[]) AS k(tenant_id, external_id)
         JOIN devices d ON d.tenant_id = k.tenant_id AND d.external_id = k.external_id`,
      [known.map((s) => s.tenantId), known.map((s) => s.deviceKey)],
    );
    const found = new Map<string, number>();
    for (const row of rows) found.set(`${row.tenant_id}:${row.external_id}`, this.remember(row));
    const toProvision: typeof known = [];
    for (const s of known) {
      const code = found.get(s.key);
      if (code !== undefined) answer(s.key, decode(code, false));
      else if (tenants.get(s.tenantId)?.autoProvision && DEVICE_KEY.test(s.deviceKey)) {
        toProvision.push(s);
      } else answer(s.key, { ok: false, reason: 'unknown-device' });
    }
    if (toProvision.length === 0) return;
    const provisioned = await this.provision(toProvision);
    for (const s of toProvision) {
      answer(s.key, provisioned.get(s.key) ?? { ok: false, reason: 'unknown-device' });
    }
  }

  /** Creates the devices; a concurrent creator's row is read back instead. */
  private async provision(
    items: ReadonlyArray<{ key: string; tenantId: string; deviceKey: string }>,
  ): Promise<Map<string, DeviceResolution>> {
    const out = new Map<string, DeviceResolution>();
    const insert = async (batch: typeof items) => {
      this.stats.queries++;
      const { rows } = await this.pool.query<DeviceRow>(
        `INSERT INTO devices AS d (tenant_id, external_id)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (tenant_id, external_id) DO NOTHING
         RETURNING ${DEVICE_COLUMNS}`,
        [batch.map((s) => s.tenantId), batch.map((s) => s.deviceKey)],
      );
      for (const row of rows) {
        const key = `${row.tenant_id}:${row.external_id}`;
        out.set(key, decode(this.remember(row), true));
        this.stats.provisioned++;
        this.log(`auto-provisioned device ${row.external_id} of tenant ${row.tenant_id}`);
      }
    };
    try {
      await insert(items);
    } catch (err) {
      // A key the table refuses, or a tenant deleted meanwhile: one by one, so only those fail.
      this.log(`auto-provisioning ${items.length} devices failed (${errorMessage(err)}); singly`);
      for (const item of items) await insert([item]).catch(() => {});
    }
    const raced = items.filter((s) => !out.has(s.key));
    if (raced.length > 0) {
      this.stats.queries++;
      const { rows } = await this.pool.query<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS}
           FROM unnest($1::text[], $2::text[]) AS k(tenant_id, external_id)
           JOIN devices d ON d.tenant_id = k.tenant_id AND d.external_id = k.external_id`,
        [raced.map((s) => s.tenantId), raced.map((s) => s.deviceKey)],
      );
      for (const row of rows) {
        out.set(`${row.tenant_id}:${row.external_id}`, decode(this.remember(row), false));
      }
    }
    return out;
  }

  private async lookupEuis(euis: string[]): Promise<void> {
    this.stats.misses += euis.length;
    this.stats.queries++;
    const { rows } = await this.pool.query<DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices d WHERE d.dev_eui = ANY($1::text[])`,
      [euis],
    );
    for (const row of rows) this.remember(row);
    for (const eui of euis) {
      const hit = this.peekDevEuiQuiet(eui);
      if (hit === undefined) {
        this.setNegative(`#${eui}`, 'unknown-device');
        this.countUnknown('unknown-device');
      }
      this.pendingEuis.get(eui)?.resolve(hit ?? { ok: false, reason: 'unknown-device' });
    }
  }

  private peekDevEuiQuiet(eui: string): DevEuiResolution | undefined {
    const entry = this.euis.get(eui);
    if (entry === undefined) return undefined;
    const d = decode(entry.code, false);
    return {
      ok: true,
      tenantId: entry.tenantId,
      deviceKey: entry.deviceKey,
      deviceId: d.deviceId,
      enabled: d.enabled,
    };
  }

  /** Tenant existence and auto-provision flags, cached for tenantTtlMs. */
  private async loadTenants(ids: string[]): Promise<Map<string, TenantInfo>> {
    const now = this.now();
    const out = new Map<string, TenantInfo>();
    const missing: string[] = [];
    for (const id of ids) {
      const t = this.tenants.get(id);
      if (t !== undefined && t.expiresAt > now) out.set(id, t);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    this.stats.queries++;
    const { rows } = await this.pool.query<{ id: string; auto: boolean }>(
      'SELECT id, auto_provision_devices AS auto FROM tenants WHERE id = ANY($1::text[])',
      [missing],
    );
    const found = new Map(rows.map((r) => [r.id, r.auto]));
    for (const id of missing) {
      const auto = found.get(id);
      const info: TenantInfo =
        auto === undefined
          ? { exists: false, autoProvision: false, expiresAt: now + this.negativeTtlMs }
          : { exists: true, autoProvision: auto, expiresAt: now + this.tenantTtlMs };
      if (this.tenants.size >= this.maxNegative) {
        const oldest = this.tenants.keys().next();
        if (!oldest.done) this.tenants.delete(oldest.value);
      }
      this.tenants.set(id, info);
      out.set(id, info);
    }
    return out;
  }
}

/** One number per cached device: the id, negated when the device is disabled. */
function encode(id: string, enabled: boolean): number {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`device id ${id} out of range`);
  return enabled ? n : -n;
}

function decode(
  code: number,
  provisioned: boolean,
): { ok: true; deviceId: number; enabled: boolean; provisioned: boolean } {
  return { ok: true, deviceId: Math.abs(code), enabled: code > 0, provisioned };
}

function deferred<R>(): Pending<R> {
  let resolve!: (r: R) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<R>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
