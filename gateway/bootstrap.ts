/**
 * Creating tenants and keys outside the API (`gito tenant create`, `gito key create`): no
 * tenant's credential may create another tenant, so the first admin key of a tenant comes from
 * whoever can reach the database.
 */
import type { Pool } from 'pg';
import { TENANT_ID_PATTERN } from '../actors/ingest/topics.ts';
import { type ApiKey, insertApiKey, type KeyRole } from '../db/gateway/api-keys.ts';
import { getTenant, insertTenant, type Tenant } from '../db/gateway/tenants.ts';
import { generateApiKey } from './auth/api-keys.ts';
import { ROLES } from './auth/roles.ts';

export function isKeyRole(role: string): role is KeyRole {
  return (ROLES as readonly string[]).includes(role);
}

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
}

/** Creates an API key of a tenant; returns the record and the key (to show once). */
export async function bootstrapKey(
  pool: Pool,
  tenantId: string,
  options: { role?: KeyRole; name?: string } = {},
): Promise<{ record: ApiKey; key: string }> {
  if ((await getTenant(pool, tenantId)) === undefined) {
    throw new BootstrapError(`no tenant '${tenantId}'`);
  }
  const generated = generateApiKey();
  const role = options.role ?? 'admin';
  const record = await insertApiKey(pool, tenantId, {
    name: options.name ?? `${role} key (created by gito key create)`,
    prefix: generated.prefix,
    keyHash: generated.hash,
    role,
  });
  return { record, key: generated.key };
}

/** Creates a tenant and its first admin API key. */
export async function bootstrapTenant(
  pool: Pool,
  spec: { id: string; name?: string; autoProvisionDevices?: boolean },
): Promise<{ tenant: Tenant; key: string; record: ApiKey }> {
  if (!TENANT_ID_PATTERN.test(spec.id)) {
    throw new BootstrapError(
      `tenant id '${spec.id}': use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
  const tenant = await insertTenant(pool, {
    id: spec.id,
    name: spec.name ?? spec.id,
    autoProvisionDevices: spec.autoProvisionDevices,
  });
  if (tenant === undefined) throw new BootstrapError(`tenant '${spec.id}' exists already`);
  const { record, key } = await bootstrapKey(pool, spec.id, {
    role: 'admin',
    name: 'first admin key (gito tenant create)',
  });
  return { tenant, key, record };
}
