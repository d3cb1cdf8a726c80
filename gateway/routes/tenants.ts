import { Type } from '@sinclair/typebox';
import { getTenant, type Tenant, updateTenant } from '../../db/gateway/tenants.ts';
import { authOf } from '../auth/hooks.ts';
import { notFound } from '../http/problem.ts';
import { responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { TenantSlug } from './shapes.ts';

const TenantSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  telemetryRetentionDays: Type.Integer(),
  autoProvisionDevices: Type.Boolean(),
  settings: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const TenantParams = Type.Object({ tenantId: TenantSlug }, { additionalProperties: false });

const TenantPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    telemetryRetentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
    autoProvisionDevices: Type.Optional(Type.Boolean()),
    settings: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form tenant settings' }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

/**
 * A caller sees exactly one tenant: its own. Another tenant's id answers 404 like an unknown
 * one. Tenants are created by `gito tenant create` (docs/api.md), not over the API: no tenant's
 * key may create another.
 */
export const tenantsResource: ApiResource = {
  tag: 'tenants',
  description: "The caller's tenant: settings, retention, auto-provisioning",
  routes(app, ctx) {
    const own = (callerTenant: string, tenantId: string) => {
      if (tenantId !== callerTenant) throw notFound('tenant', tenantId);
    };

    app.get(
      '/tenants/:tenantId',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "Read the caller's tenant",
          params: TenantParams,
          response: responses({ 200: TenantSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        own(auth.tenantId, request.params.tenantId);
        const tenant = await getTenant(ctx.pool, auth.tenantId);
        if (tenant === undefined) throw notFound('tenant', request.params.tenantId);
        return tenant;
      },
    );

    app.patch(
      '/tenants/:tenantId',
      {
        config: { role: 'admin' },
        schema: {
          summary: "Update the caller's tenant",
          params: TenantParams,
          body: TenantPatch,
          response: responses({ 200: TenantSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        own(auth.tenantId, request.params.tenantId);
        const before = await getTenant(ctx.pool, auth.tenantId);
        const after: Tenant | undefined = await updateTenant(ctx.pool, auth.tenantId, request.body);
        if (before === undefined || after === undefined) {
          throw notFound('tenant', request.params.tenantId);
        }
        request.audit = { resourceType: 'tenant', resourceId: after.id, before, after };
        return after;
      },
    );
  },
};
