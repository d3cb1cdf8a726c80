import { escapeLike, iso, type Queryable, type Slice, setClause, slice } from './common.ts';

export type UserRole = 'admin' | 'operator' | 'viewer';

export interface User {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly role: UserRole;
  readonly phone: string | null;
  readonly disabled: boolean;
  readonly hasPassword: boolean;
  readonly lastLoginAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  role: UserRole;
  phone: string | null;
  disabled: boolean;
  has_password: boolean;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id::text AS id, email, display_name, role, phone, disabled,
  password_hash IS NOT NULL AS has_password, last_login_at, created_at, updated_at`;

function toUser(r: UserRow): User {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    role: r.role,
    phone: r.phone,
    disabled: r.disabled,
    hasPassword: r.has_password,
    lastLoginAt: iso(r.last_login_at),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export interface UserFilter {
  readonly role?: UserRole;
  /** Case-insensitive substring of email or display name. */
  readonly q?: string;
  readonly afterId?: string;
  readonly limit: number;
}

export async function listUsers(
  db: Queryable,
  tenantId: string,
  f: UserFilter,
): Promise<Slice<User>> {
  const params: unknown[] = [tenantId, f.afterId ?? '0', f.limit + 1];
  const where = ['tenant_id = $1', 'id > $2::bigint'];
  if (f.role !== undefined) {
    params.push(f.role);
    where.push(`role = $${params.length}`);
  }
  if (f.q !== undefined) {
    params.push(`%${escapeLike(f.q)}%`);
    where.push(`(email ILIKE $${params.length} OR display_name ILIKE $${params.length})`);
  }
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM users WHERE ${where.join(' AND ')} ORDER BY id LIMIT $3`,
    params,
  );
  return slice(rows.map(toUser), f.limit);
}

export async function getUser(
  db: Queryable,
  tenantId: string,
  userId: string,
): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2::bigint`,
    [tenantId, userId],
  );
  return rows[0] === undefined ? undefined : toUser(rows[0]);
}

/** What login needs: the user and their password hash (never leaves the auth module). */
export async function findLogin(
  db: Queryable,
  tenantId: string,
  email: string,
): Promise<{ user: User; passwordHash: string | null } | undefined> {
  const { rows } = await db.query<UserRow & { password_hash: string | null }>(
    `SELECT ${COLUMNS}, password_hash FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)`,
    [tenantId, email],
  );
  const row = rows[0];
  return row === undefined ? undefined : { user: toUser(row), passwordHash: row.password_hash };
}

export interface NewUser {
  readonly email: string;
  readonly displayName?: string | null;
  readonly role: UserRole;
  readonly phone?: string | null;
  readonly passwordHash?: string | null;
}

/** Creates a user; undefined when the email is taken in the tenant. */
export async function insertUser(
  db: Queryable,
  tenantId: string,
  u: NewUser,
): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (tenant_id, email, display_name, role, phone, password_hash)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, lower(email)) DO NOTHING RETURNING ${COLUMNS}`,
    [tenantId, u.email, u.displayName ?? null, u.role, u.phone ?? null, u.passwordHash ?? null],
  );
  return rows[0] === undefined ? undefined : toUser(rows[0]);
}

export interface UserPatch {
  readonly email?: string;
  readonly displayName?: string | null;
  readonly role?: UserRole;
  readonly phone?: string | null;
  readonly disabled?: boolean;
  readonly passwordHash?: string | null;
}

/** Updates the given fields; undefined when the user is not in the tenant. */
export async function updateUser(
  db: Queryable,
  tenantId: string,
  userId: string,
  patch: UserPatch,
): Promise<User | undefined> {
  const params: unknown[] = [tenantId, userId];
  const set = setClause(
    {
      email: { column: 'email', value: patch.email },
      displayName: { column: 'display_name', value: patch.displayName },
      role: { column: 'role', value: patch.role },
      phone: { column: 'phone', value: patch.phone },
      disabled: { column: 'disabled', value: patch.disabled },
      passwordHash: { column: 'password_hash', value: patch.passwordHash },
    },
    params,
  );
  if (set === undefined) return getUser(db, tenantId, userId);
  const { rows } = await db.query<UserRow>(
    `UPDATE users ${set} WHERE tenant_id = $1 AND id = $2::bigint RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] === undefined ? undefined : toUser(rows[0]);
}

export async function deleteUser(db: Queryable, tenantId: string, userId: string) {
  const { rows } = await db.query<UserRow>(
    `DELETE FROM users WHERE tenant_id = $1 AND id = $2::bigint RETURNING ${COLUMNS}`,
    [tenantId, userId],
  );
  return rows[0] === undefined ? undefined : toUser(rows[0]);
}

export async function recordLogin(db: Queryable, tenantId: string, userId: string) {
  await db.query(
    'UPDATE users SET last_login_at = now() WHERE tenant_id = $1 AND id = $2::bigint',
    [tenantId, userId],
  );
}
