import type { Pool } from 'pg';
import type { Queryable } from './sql.ts';

/** Users of a team (only its leads when asked), by id. */
export async function teamMemberIds(
  db: Queryable,
  tenantId: string,
  teamId: string,
  leadsOnly: boolean,
): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id::text FROM team_members
     WHERE tenant_id = $1 AND team_id = $2 AND ($3::boolean IS FALSE OR role = 'lead')
     ORDER BY user_id`,
    [tenantId, teamId, leadsOnly],
  );
  return rows.map((r) => r.user_id);
}

/** The rule an alert came from: its name and the escalation policy it names, if any. */
export async function ruleForEscalation(
  pool: Pool,
  tenantId: string,
  ruleId: string,
): Promise<{ name: string; escalationPolicy: string | null } | undefined> {
  const { rows } = await pool.query<{ name: string; policy: string | null }>(
    `SELECT name, definition->>'escalationPolicy' AS policy FROM rules WHERE tenant_id = $1 AND id = $2`,
    [tenantId, ruleId],
  );
  const row = rows[0];
  return row === undefined ? undefined : { name: row.name, escalationPolicy: row.policy };
}
