import type { Pool } from 'pg';
import { msColumn } from './tx.ts';

/**
 * Stored rules and maintenance windows. The definition is opaque JSON here (the db layer sits
 * below actors/rules, which owns the format and validates before saving).
 */
export interface StoredDefinition<D> {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly enabled: boolean;
  readonly version: number;
  readonly definition: D;
  readonly updatedAt: number;
  readonly deletedAt: number | null;
}

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  enabled: boolean;
  version: number;
  definition: unknown;
  updated_ms: string;
  deleted_ms: string | null;
}

type Table = 'rules' | 'maintenance_windows';

function toStored<D>(row: Row): StoredDefinition<D> {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    enabled: row.enabled,
    version: row.version,
    definition: row.definition as D,
    updatedAt: Number(row.updated_ms),
    deletedAt: row.deleted_ms === null ? null : Number(row.deleted_ms),
  };
}

/** CRUD over `rules` or `maintenance_windows` (same shape; windows are always enabled). */
export class DefinitionRepo<D extends { readonly name: string; readonly enabled?: boolean }> {
  private readonly columns: string;

  constructor(
    private readonly pool: Pool,
    private readonly table: Table,
  ) {
    const enabled = table === 'rules' ? 'enabled' : 'true AS enabled';
    this.columns = `id::text, tenant_id, name, ${enabled}, version, definition,
      ${msColumn('updated_at')} AS updated_ms, ${msColumn('deleted_at')} AS deleted_ms`;
  }

  async create(tenantId: string, definition: D): Promise<StoredDefinition<D>> {
    const enabled = this.table === 'rules' ? ', enabled' : '';
    const params: unknown[] = [tenantId, definition.name, JSON.stringify(definition)];
    if (this.table === 'rules') params.push(definition.enabled ?? true);
    const { rows } = await this.pool.query<Row>(
      `INSERT INTO ${this.table} (tenant_id, name, definition${enabled})
       VALUES ($1, $2, $3${this.table === 'rules' ? ', $4' : ''}) RETURNING ${this.columns}`,
      params,
    );
    return toStored<D>(rows[0] as Row);
  }

  /** Replaces the definition and bumps the version; undefined when absent or deleted. */
  async update(
    tenantId: string,
    id: string,
    definition: D,
  ): Promise<StoredDefinition<D> | undefined> {
    const enabled = this.table === 'rules' ? ', enabled = $5' : '';
    const params: unknown[] = [tenantId, id, definition.name, JSON.stringify(definition)];
    if (this.table === 'rules') params.push(definition.enabled ?? true);
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET name = $3, definition = $4${enabled}, version = version + 1
       WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ${this.columns}`,
      params,
    );
    return rows[0] === undefined ? undefined : toStored<D>(rows[0]);
  }

  /** Marks deleted (kept for alerts and audit); returns the row as it was, or undefined. */
  async remove(tenantId: string, id: string): Promise<StoredDefinition<D> | undefined> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET deleted_at = now(), version = version + 1
       WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ${this.columns}`,
      [tenantId, id],
    );
    return rows[0] === undefined ? undefined : toStored<D>(rows[0]);
  }

  async get(tenantId: string, id: string): Promise<StoredDefinition<D> | undefined> {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const { rows } = await this.pool.query<Row>(
      `SELECT ${this.columns} FROM ${this.table} WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id],
    );
    return rows[0] === undefined ? undefined : toStored<D>(rows[0]);
  }

  /** Live (not deleted) definitions of a tenant, by id. */
  async list(tenantId: string, options: { afterId?: string; limit?: number } = {}) {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${this.columns} FROM ${this.table}
       WHERE tenant_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3`,
      [tenantId, options.afterId ?? '0', Math.min(Math.max(options.limit ?? 100, 1), 1000)],
    );
    return rows.map((r) => toStored<D>(r));
  }

  /** Every row changed after `sinceMs` (deleted ones included), for caches; all when 0. */
  async changedSince(sinceMs: number): Promise<StoredDefinition<D>[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${this.columns} FROM ${this.table}
       WHERE updated_at >= timestamptz 'epoch' + $1::bigint * interval '1 millisecond'
         AND ($1 > 0 OR deleted_at IS NULL)
       ORDER BY updated_at, id`,
      [sinceMs],
    );
    return rows.map((r) => toStored<D>(r));
  }
}
