import { msColumn, type Queryable } from './sql.ts';

/**
 * Escalation policies as stored. `levels` is opaque here: the escalation actor's model
 * validates it before writing and after reading.
 */

export interface EscalationPolicy {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string | null;
  readonly levels: readonly unknown[];
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface EscalationPolicyInput {
  readonly name: string;
  readonly description?: string | null;
  readonly levels: readonly unknown[];
}

const COLUMNS = `id::text AS id, tenant_id, name, description, levels::text AS levels, version,
  ${msColumn('created_at')} AS created_ms, ${msColumn('updated_at')} AS updated_ms`;

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  levels: string;
  version: number;
  created_ms: string;
  updated_ms: string;
}

const toPolicy = (r: Row): EscalationPolicy => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  description: r.description,
  levels: JSON.parse(r.levels) as unknown[],
  version: r.version,
  createdAt: Number(r.created_ms),
  updatedAt: Number(r.updated_ms),
});

export async function createEscalationPolicy(
  db: Queryable,
  tenantId: string,
  input: EscalationPolicyInput,
): Promise<EscalationPolicy> {
  const { rows } = await db.query<Row>(
    `INSERT INTO escalation_policies (tenant_id, name, description, levels)
     VALUES ($1, $2, $3, $4::jsonb) RETURNING ${COLUMNS}`,
    [tenantId, input.name, input.description ?? null, JSON.stringify(input.levels)],
  );
  return toPolicy(rows[0]!);
}

/** Replaces name, description and levels, bumping the version; undefined if absent. */
export async function updateEscalationPolicy(
  db: Queryable,
  tenantId: string,
  id: string,
  input: EscalationPolicyInput,
): Promise<EscalationPolicy | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE escalation_policies
        SET name = $3, description = $4, levels = $5::jsonb, version = version + 1
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tenantId, id, input.name, input.description ?? null, JSON.stringify(input.levels)],
  );
  return rows[0] === undefined ? undefined : toPolicy(rows[0]);
}

export async function deleteEscalationPolicy(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'DELETE FROM escalation_policies WHERE tenant_id = $1 AND id = $2',
    [tenantId, id],
  );
  return rowCount === 1;
}

export async function getEscalationPolicy(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<EscalationPolicy | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM escalation_policies WHERE tenant_id = $1 AND id = $2`,
    [tenantId, id],
  );
  return rows[0] === undefined ? undefined : toPolicy(rows[0]);
}

export async function listEscalationPolicies(
  db: Queryable,
  tenantId: string,
): Promise<EscalationPolicy[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM escalation_policies WHERE tenant_id = $1 ORDER BY lower(name), id`,
    [tenantId],
  );
  return rows.map(toPolicy);
}

/** Makes `policyId` the tenant's default for `severity`; null removes the default. */
export async function setDefaultEscalationPolicy(
  db: Queryable,
  tenantId: string,
  severity: string,
  policyId: string | null,
): Promise<void> {
  if (policyId === null) {
    await db.query(
      'DELETE FROM escalation_policy_defaults WHERE tenant_id = $1 AND severity = $2',
      [tenantId, severity],
    );
    return;
  }
  await db.query(
    `INSERT INTO escalation_policy_defaults (tenant_id, severity, policy_id) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, severity) DO UPDATE SET policy_id = excluded.policy_id`,
    [tenantId, severity, policyId],
  );
}

/** The tenant's default policy for a severity, if any. */
export async function defaultEscalationPolicy(
  db: Queryable,
  tenantId: string,
  severity: string,
): Promise<EscalationPolicy | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM escalation_policies
      WHERE tenant_id = $1
        AND id = (SELECT policy_id FROM escalation_policy_defaults
                   WHERE tenant_id = $1 AND severity = $2)`,
    [tenantId, severity],
  );
  return rows[0] === undefined ? undefined : toPolicy(rows[0]);
}
