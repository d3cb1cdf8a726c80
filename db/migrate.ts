import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from 'pg';

/**
 * A small migration runner.
 *
 * - Migrations are SQL files in db/migrations named `NNNN_name.sql` (NNNN = version, at least 4
 *   digits), applied in version order, each in its own transaction together with its row in
 *   `schema_migrations` (version, name, checksum, applied_at): a migration is applied entirely or
 *   not at all.
 * - Idempotent: applied versions are skipped. The checksum (sha256 of the file, line endings
 *   normalised) of every applied migration is compared with the file: an edited migration is
 *   refused, write a new one instead. A pending migration older than the newest applied one
 *   (a merge of two branches) is refused too, so every database sees the same order.
 * - Concurrency: a session advisory lock serialises nodes starting at the same time; the second
 *   waits, then finds nothing to do. Each migration also re-checks its row inside its own
 *   transaction, which keeps the runner safe on the embedded PGlite server, where every
 *   connection shares one backend session (advisory locks are re-entrant there and so do not
 *   exclude; transactions are serialised by the socket server instead).
 * - A database that already holds migrations this build does not know (newer code ran there) is
 *   logged and tolerated, so a rolling upgrade does not stop the old nodes.
 */

/** Advisory lock keys (two int4) used by the db layer: 0x6769746f = 'gito'. */
export const LOCK_NAMESPACE = 0x6769746f;
export const MIGRATION_LOCK = 1;

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

const FILE_PATTERN = /^(\d{4,})_([A-Za-z0-9_-]+)\.sql$/;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly file: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrateOptions {
  /** Progress lines ("applied 0001_core in 42 ms"). Default: silent. */
  log?: (message: string) => void;
  /** Folder of migration files; default db/migrations next to this module. */
  dir?: string;
}

export interface MigrateResult {
  /** Migrations this call applied, in order. */
  readonly applied: readonly { version: number; name: string; ms: number }[];
  /** Highest version recorded in the database after the run (0 if none). */
  readonly version: number;
}

export type MigrationErrorKind = 'invalid' | 'checksum' | 'order' | 'failed';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly kind: MigrationErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** Reads and validates the migration files of `dir`, sorted by version. */
export async function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir);
  const out: Migration[] = [];
  const seen = new Map<number, string>();
  for (const file of entries.sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_PATTERN.exec(file);
    if (match === null) {
      throw new MigrationError(
        `migration file '${file}' does not match NNNN_name.sql (in ${dir})`,
        'invalid',
      );
    }
    const version = Number(match[1]);
    const previous = seen.get(version);
    if (previous !== undefined) {
      throw new MigrationError(
        `migration version ${version} is used twice: ${previous} and ${file}`,
        'invalid',
      );
    }
    seen.set(version, file);
    const sql = await readFile(join(dir, file), 'utf8');
    out.push({ version, name: match[2]!, file, sql, checksum: checksumOf(sql) });
  }
  return out.sort((a, b) => a.version - b.version);
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/** Applies pending migrations; see the module comment for the rules. */
export async function migrate(pool: Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const log = options.log ?? (() => {});
  const migrations = await loadMigrations(options.dir);
  const client = await pool.connect();
  // A connection in an unknown state is not handed back to the pool: closing it also releases
  // the session's advisory lock.
  let reusable = true;
  try {
    // Migrations (and waiting for another node's migrations) may take longer than the pool's
    // statement timeout; lift the timeouts for this session and restore them afterwards.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, MIGRATION_LOCK]);
    try {
      return await migrateLocked(client, migrations, log);
    } finally {
      // Must not mask the migration's own error.
      await client
        .query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, MIGRATION_LOCK])
        .catch(() => {
          reusable = false;
        });
    }
  } catch (err) {
    reusable = false;
    throw err;
  } finally {
    if (reusable) {
      await client.query('RESET statement_timeout; RESET lock_timeout').catch(() => {
        reusable = false;
      });
    }
    client.release(!reusable);
  }
}

async function migrateLocked(
  client: PoolClient,
  migrations: readonly Migration[],
  log: (message: string) => void,
): Promise<MigrateResult> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      checksum   text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const { rows } = await client.query<AppliedRow>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  const appliedVersions = new Set<number>();
  const changed: string[] = [];
  for (const row of rows) {
    appliedVersions.add(row.version);
    const file = byVersion.get(row.version);
    if (file === undefined) {
      log(
        `migration ${row.version} (${row.name}) is applied in the database but unknown to this build: the database is newer than this code`,
      );
    } else if (file.checksum !== row.checksum) {
      changed.push(file.file);
    }
  }
  if (changed.length > 0) {
    throw new MigrationError(
      `applied migration(s) changed since they ran: ${changed.join(', ')}. Restore the original file(s) and put the change in a new migration.`,
      'checksum',
    );
  }
  const newestApplied = rows.length === 0 ? 0 : rows[rows.length - 1]!.version;
  const pending = migrations.filter((m) => !appliedVersions.has(m.version));
  const outOfOrder = pending.filter((m) => m.version < newestApplied);
  if (outOfOrder.length > 0) {
    throw new MigrationError(
      `pending migration(s) ${outOfOrder.map((m) => m.file).join(', ')} are older than the newest applied version ${newestApplied}; renumber them after it`,
      'order',
    );
  }

  const applied: { version: number; name: string; ms: number }[] = [];
  for (const m of pending) {
    const started = performance.now();
    await client.query('BEGIN');
    try {
      const again = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        m.version,
      ]);
      if (again.rowCount !== 0) {
        await client.query('ROLLBACK');
        continue;
      }
      await client.query(m.sql);
      await client.query(
        'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
        [m.version, m.name, m.checksum],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw new MigrationError(
        `migration ${m.file} failed${where(m.sql, err)}: ${err instanceof Error ? err.message : String(err)}`,
        'failed',
        { cause: err },
      );
    }
    const ms = Math.round(performance.now() - started);
    applied.push({ version: m.version, name: m.name, ms });
    log(`applied ${m.file} in ${ms} ms`);
  }
  const current = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_migrations',
  );
  const version = current.rows[0]?.version ?? 0;
  if (applied.length === 0) log(`database schema is up to date (version ${version})`);
  return { applied, version };
}

/** " at line N" for a PostgreSQL error that carries a character position in the script. */
function where(sql: string, err: unknown): string {
  const position = (err as { position?: unknown } | null)?.position;
  if (typeof position !== 'string') return '';
  const offset = Number(position);
  if (!Number.isInteger(offset) || offset < 1) return '';
  const line = sql.slice(0, offset - 1).split('\n').length;
  return ` at line ${line}`;
}
