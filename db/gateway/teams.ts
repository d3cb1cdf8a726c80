import { escapeLike, iso, type Queryable, type Slice, setClause, slice } from './common.ts';

export interface Team {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly memberCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface TeamRow {
  id: string;
  name: string;
  description: string | null;
  member_count: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `t.id::text AS id, t.name, t.description,
  (SELECT count(*)::int FROM team_members m WHERE m.team_id = t.id) AS member_count,
  t.created_at, t.updated_at`;

function toTeam(r: TeamRow): Team {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    memberCount: r.member_count,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export async function listTeams(
  db: Queryable,
  tenantId: string,
  f: { q?: string; afterId?: string; limit: number },
): Promise<Slice<Team>> {
  const params: unknown[] = [tenantId, f.afterId ?? '0', f.limit + 1];
  let where = 't.tenant_id = $1 AND t.id > $2::bigint';
  if (f.q !== undefined) {
    params.push(`%${escapeLike(f.q)}%`);
    where += ` AND t.name ILIKE $${params.length}`;
  }
  const { rows } = await db.query<TeamRow>(
    `SELECT ${COLUMNS} FROM teams t WHERE ${where} ORDER BY t.id LIMIT $3`,
    params,
  );
  return slice(rows.map(toTeam), f.limit);
}

export async function getTeam(db: Queryable, tenantId: string, teamId: string) {
  const { rows } = await db.query<TeamRow>(
    `SELECT ${COLUMNS} FROM teams t WHERE t.tenant_id = $1 AND t.id = $2::bigint`,
    [tenantId, teamId],
  );
  return rows[0] === undefined ? undefined : toTeam(rows[0]);
}

/** Creates a team; undefined when the name is taken (case-insensitively). */
export async function insertTeam(
  db: Queryable,
  tenantId: string,
  t: { name: string; description?: string | null },
): Promise<Team | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO teams (tenant_id, name, description) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, lower(name)) DO NOTHING RETURNING id::text AS id`,
    [tenantId, t.name, t.description ?? null],
  );
  return rows[0] === undefined ? undefined : getTeam(db, tenantId, rows[0].id);
}

/** Throws a unique violation (teams_tenant_name_key) when renamed onto another team's name. */
export async function updateTeam(
  db: Queryable,
  tenantId: string,
  teamId: string,
  patch: { name?: string; description?: string | null },
): Promise<Team | undefined> {
  const params: unknown[] = [tenantId, teamId];
  const set = setClause(
    {
      name: { column: 'name', value: patch.name },
      description: { column: 'description', value: patch.description },
    },
    params,
  );
  if (set !== undefined) {
    const res = await db.query(
      `UPDATE teams ${set} WHERE tenant_id = $1 AND id = $2::bigint`,
      params,
    );
    if (res.rowCount === 0) return undefined;
  }
  return getTeam(db, tenantId, teamId);
}

export async function deleteTeam(db: Queryable, tenantId: string, teamId: string) {
  const before = await getTeam(db, tenantId, teamId);
  if (before === undefined) return undefined;
  await db.query('DELETE FROM teams WHERE tenant_id = $1 AND id = $2::bigint', [tenantId, teamId]);
  return before;
}

export type TeamMemberRole = 'member' | 'lead';

export interface TeamMember {
  readonly userId: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly role: TeamMemberRole;
  readonly addedAt: string;
}

interface MemberRow {
  user_id: string;
  email: string;
  display_name: string | null;
  role: TeamMemberRole;
  added_at: Date;
}

function toMember(r: MemberRow): TeamMember {
  return {
    userId: r.user_id,
    email: r.email,
    displayName: r.display_name,
    role: r.role,
    addedAt: iso(r.added_at)!,
  };
}

const MEMBER_COLUMNS = 'm.user_id::text AS user_id, u.email, u.display_name, m.role, m.added_at';

export async function listTeamMembers(
  db: Queryable,
  tenantId: string,
  teamId: string,
  f: { afterId?: string; limit: number },
): Promise<Slice<TeamMember>> {
  const { rows } = await db.query<MemberRow>(
    `SELECT ${MEMBER_COLUMNS}
       FROM team_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
      WHERE m.tenant_id = $1 AND m.team_id = $2::bigint AND m.user_id > $3::bigint
      ORDER BY m.user_id LIMIT $4`,
    [tenantId, teamId, f.afterId ?? '0', f.limit + 1],
  );
  return slice(rows.map(toMember), f.limit);
}

/**
 * Adds a user to a team, or changes their role in it. Undefined when the team or the user is
 * not in the tenant (the composite foreign keys refuse the other tenant's rows too).
 */
export async function putTeamMember(
  db: Queryable,
  tenantId: string,
  teamId: string,
  userId: string,
  role: TeamMemberRole,
): Promise<TeamMember | undefined> {
  const { rows } = await db.query<MemberRow>(
    `WITH ins AS (
       INSERT INTO team_members (tenant_id, team_id, user_id, role)
       SELECT $1, t.id, u.id, $4
         FROM teams t JOIN users u ON u.tenant_id = t.tenant_id
        WHERE t.tenant_id = $1 AND t.id = $2::bigint AND u.id = $3::bigint
       ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role
       RETURNING *)
     SELECT ${MEMBER_COLUMNS}
       FROM ins m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id`,
    [tenantId, teamId, userId, role],
  );
  return rows[0] === undefined ? undefined : toMember(rows[0]);
}

export async function removeTeamMember(
  db: Queryable,
  tenantId: string,
  teamId: string,
  userId: string,
): Promise<boolean> {
  const res = await db.query(
    `DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2::bigint AND user_id = $3::bigint`,
    [tenantId, teamId, userId],
  );
  return (res.rowCount ?? 0) > 0;
}
