import type { ClientBase, Pool } from 'pg';

/**
 * The tables of the current schema as they are now, read from the catalog: GDPR export and
 * erasure adapt to whatever features (contact points, alerts, ...) this database has, and to
 * tables added later, without a list to keep in sync.
 */

export interface ForeignKey {
  readonly column: string;
  readonly refTable: string;
  readonly refColumn: string;
}

export interface TableInfo {
  readonly name: string;
  /** Column name -> type as format_type prints it ('text', 'jsonb', 'character varying(20)'). */
  readonly columns: ReadonlyMap<string, string>;
  /** Single-column foreign keys. */
  readonly foreignKeys: readonly ForeignKey[];
}

export type SchemaInfo = ReadonlyMap<string, TableInfo>;

/** Ordinary and partitioned tables of the current schema (partitions are reached via parents). */
export async function describeSchema(db: Pool | ClientBase): Promise<SchemaInfo> {
  const { rows: columns } = await db.query<{ table: string; column: string; type: string }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname, a.attnum`,
  );
  const { rows: keys } = await db.query<{
    table: string;
    column: string;
    ref_table: string;
    ref_column: string;
  }>(
    `SELECT c.relname AS table, a.attname AS column, rc.relname AS ref_table,
            ra.attname AS ref_column
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = k.confrelid
       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
       JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
      WHERE k.contype = 'f' AND n.nspname = current_schema() AND cardinality(k.conkey) = 1`,
  );
  const tables = new Map<
    string,
    { name: string; columns: Map<string, string>; foreignKeys: ForeignKey[] }
  >();
  for (const row of columns) {
    let table = tables.get(row.table);
    if (table === undefined) {
      table = { name: row.table, columns: new Map(), foreignKeys: [] };
      tables.set(row.table, table);
    }
    table.columns.set(row.column, row.type);
  }
  for (const key of keys) {
    tables.get(key.table)?.foreignKeys.push({
      column: key.column,
      refTable: key.ref_table,
      refColumn: key.ref_column,
    });
  }
  return tables;
}

/** Text-like and JSON column types: where personal data can hide. */
export function isTextual(type: string): boolean {
  return /^(text|character varying|character|citext|jsonb|json)(\(|$)/.test(type);
}

export function isJson(type: string): boolean {
  return type === 'jsonb' || type === 'json';
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
