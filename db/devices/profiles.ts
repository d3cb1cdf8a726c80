import type { Pool } from 'pg';

/** What rules need to know about a device besides its telemetry: scope and thresholds. */
export interface DeviceProfile {
  readonly key: string;
  /** Group names. */
  readonly groups: readonly string[];
  readonly tags: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

interface Waiter {
  resolve(profile: DeviceProfile): void;
  reject(err: unknown): void;
}

interface Row {
  external_id: string;
  tags: string[];
  attributes: Record<string, unknown>;
  groups: string[] | null;
}

/**
 * Loads device profiles, coalescing the lookups made in the same tick into one query per
 * tenant (activating 100,000 devices must not mean 100,000 queries). Unknown devices get an
 * empty profile; a failed query rejects the lookups it carried (callers retry).
 */
export class DeviceProfileLoader {
  private pending = new Map<string, Map<string, Waiter[]>>();
  private scheduled = false;
  queries = 0;

  constructor(
    private readonly pool: Pool,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  load(tenantId: string, key: string): Promise<DeviceProfile> {
    return new Promise((resolve, reject) => {
      let tenant = this.pending.get(tenantId);
      if (tenant === undefined) {
        tenant = new Map();
        this.pending.set(tenantId, tenant);
      }
      const waiters = tenant.get(key);
      if (waiters === undefined) tenant.set(key, [{ resolve, reject }]);
      else waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    await Promise.all(
      [...batch].map(async ([tenantId, waiters]) => {
        const keys = [...waiters.keys()];
        const found = new Map<string, DeviceProfile>();
        try {
          for (let i = 0; i < keys.length; i += 5000) {
            this.queries++;
            const { rows } = await this.pool.query<Row>(
              `SELECT d.external_id, d.tags, d.attributes,
                 (SELECT array_agg(g.name ORDER BY g.name) FROM device_group_members m
                    JOIN device_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
                   WHERE m.tenant_id = d.tenant_id AND m.device_id = d.id) AS groups
               FROM devices d WHERE d.tenant_id = $1 AND d.external_id = ANY($2)`,
              [tenantId, keys.slice(i, i + 5000)],
            );
            for (const r of rows) {
              found.set(r.external_id, {
                key: r.external_id,
                groups: r.groups ?? [],
                tags: r.tags.filter((t): t is string => typeof t === 'string'),
                attributes: r.attributes,
              });
            }
          }
        } catch (err) {
          this.onError(err);
          for (const list of waiters.values()) for (const w of list) w.reject(err);
          return;
        }
        for (const [key, list] of waiters) {
          const profile = found.get(key) ?? { key, groups: [], tags: [], attributes: {} };
          for (const w of list) w.resolve(profile);
        }
      }),
    );
  }
}
