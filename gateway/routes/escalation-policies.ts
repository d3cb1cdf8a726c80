import { Type } from '@sinclair/typebox';
import { type PolicyLevel, validateLevels } from '../../actors/notify/escalation/policy.ts';
import { SEVERITIES } from '../../actors/notify/types.ts';
import { getTeam } from '../../db/gateway/teams.ts';
import { getUser } from '../../db/gateway/users.ts';
import { listContactPoints } from '../../db/notify/contact-points.ts';
import {
  createEscalationPolicy,
  defaultEscalationPolicy,
  deleteEscalationPolicy,
  type EscalationPolicy,
  getEscalationPolicy,
  listEscalationPolicies,
  setDefaultEscalationPolicy,
  updateEscalationPolicy,
} from '../../db/notify/escalation-policies.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { conflict, type FieldError, invalid, notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, NoContent, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiContext, ApiResource } from './context.ts';

const Level = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      "{delay: '5m', repeat?: 2, interval?: '10m', targets: [{type: 'user'|'team'|'contact_point', id, " +
      "channels?, members?: 'all'|'lead'}]} (docs/escalation.md)",
  },
);

const PolicySchema = Type.Object({
  id: Id,
  name: Type.String(),
  description: Nullable(Type.String()),
  levels: Type.Array(Level),
  version: Type.Integer({ description: 'Bumped by every change' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** Levels are checked by validateLevels (paths like body.levels[1].targets[0].id). */
const PolicyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    levels: Type.Array(Level, { maxItems: 20 }),
  },
  { additionalProperties: false },
);

const Severity = Type.Union(
  SEVERITIES.map((s) => Type.Literal(s)),
  { description: 'Alert severity' },
);

const DefaultsSchema = Type.Object(Object.fromEntries(SEVERITIES.map((s) => [s, Nullable(Id)])), {
  description: 'The default policy id per severity (null: none)',
});

function show(p: EscalationPolicy) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    levels: p.levels.map((l) => ({ ...(l as Record<string, unknown>) })),
    version: p.version,
    createdAt: new Date(p.createdAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  };
}

const levelsProblem = (errors: readonly FieldError[]) =>
  new ProblemError(
    422,
    'validation',
    errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    errors,
  );

/**
 * The levels, valid and naming only this tenant's users, teams and contact points (another
 * tenant's id is refused as unknown, like any reference in a body).
 */
async function checkedLevels(
  ctx: ApiContext,
  tenantId: string,
  input: unknown,
): Promise<PolicyLevel[]> {
  const v = validateLevels(input);
  if (!v.ok) {
    throw levelsProblem(v.errors.map((e) => ({ path: `body.${e.path}`, message: e.message })));
  }
  const points = new Set((await listContactPoints(ctx.pool, tenantId)).map((p) => p.id));
  const unknown: FieldError[] = [];
  for (const [i, level] of v.levels.entries()) {
    for (const [j, target] of level.targets.entries()) {
      const exists =
        target.type === 'user'
          ? (await getUser(ctx.pool, tenantId, target.id)) !== undefined
          : target.type === 'team'
            ? (await getTeam(ctx.pool, tenantId, target.id)) !== undefined
            : points.has(target.id);
      if (!exists) {
        unknown.push({
          path: `body.levels[${i}].targets[${j}].id`,
          message: `names no ${target.type.replace('_', ' ')} of this tenant`,
        });
      }
    }
  }
  if (unknown.length > 0) throw levelsProblem(unknown);
  return v.levels;
}

const isUniqueViolation = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';

const nameTaken = (err: unknown): never => {
  if (isUniqueViolation(err))
    throw conflict('an escalation policy with this name exists', 'body.name');
  throw err;
};

async function defaultsOf(ctx: ApiContext, tenantId: string) {
  const out: Record<string, string | null> = {};
  for (const severity of SEVERITIES) {
    out[severity] = (await defaultEscalationPolicy(ctx.pool, tenantId, severity))?.id ?? null;
  }
  return out;
}

export const escalationPoliciesResource: ApiResource = {
  tag: 'escalation-policies',
  description:
    'Escalation policies (who is notified when, level by level) and the default policy per severity',
  routes(app, ctx) {
    app.get(
      '/escalation-policies',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List escalation policies',
          querystring: Type.Object({ ...PageQuery }, { additionalProperties: false }),
          response: responses({ 200: Page(PolicySchema) }),
        },
      },
      async (request) => {
        const after = afterId(request.query);
        const limit = pageSize(request.query);
        // The store orders by name; the API's lists go by id. A tenant has few policies.
        const all = (await listEscalationPolicies(ctx.pool, authOf(request).tenantId))
          .filter((p) => after === undefined || BigInt(p.id) > BigInt(after))
          .sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
        return idPage({ items: all.slice(0, limit).map(show), more: all.length > limit });
      },
    );

    app.get(
      '/escalation-policies/defaults',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'The default escalation policy per severity',
          response: responses({ 200: DefaultsSchema }),
        },
      },
      async (request) => defaultsOf(ctx, authOf(request).tenantId),
    );

    app.put(
      '/escalation-policies/defaults/:severity',
      {
        config: { role: 'admin' },
        schema: {
          summary: "Set the tenant's default policy for a severity (rules naming none use it)",
          params: Type.Object({ severity: Severity }, { additionalProperties: false }),
          body: Type.Object({ policyId: Id }, { additionalProperties: false }),
          response: responses({ 200: DefaultsSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const { severity } = request.params;
        const policyId = request.body.policyId;
        if ((await getEscalationPolicy(ctx.pool, tenantId, policyId)) === undefined) {
          throw invalid('body.policyId', 'names no escalation policy of this tenant', 422);
        }
        const before = (await defaultEscalationPolicy(ctx.pool, tenantId, severity))?.id ?? null;
        await setDefaultEscalationPolicy(ctx.pool, tenantId, severity, policyId);
        request.audit = {
          action: 'escalation_policy.default.set',
          resourceType: 'escalation_policy_default',
          resourceId: severity,
          before: { severity, policyId: before },
          after: { severity, policyId },
        };
        return defaultsOf(ctx, tenantId);
      },
    );

    app.delete(
      '/escalation-policies/defaults/:severity',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Remove the default policy of a severity',
          params: Type.Object({ severity: Severity }, { additionalProperties: false }),
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const { severity } = request.params;
        const before = await defaultEscalationPolicy(ctx.pool, tenantId, severity);
        if (before === undefined) throw notFound('default escalation policy of', severity);
        await setDefaultEscalationPolicy(ctx.pool, tenantId, severity, null);
        request.audit = {
          action: 'escalation_policy.default.remove',
          resourceType: 'escalation_policy_default',
          resourceId: severity,
          before: { severity, policyId: before.id },
        };
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/escalation-policies/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read an escalation policy',
          params: IdParams,
          response: responses({ 200: PolicySchema }),
        },
      },
      async (request) => {
        const policy = await getEscalationPolicy(
          ctx.pool,
          authOf(request).tenantId,
          request.params.id,
        );
        if (policy === undefined) throw notFound('escalation policy', request.params.id);
        return show(policy);
      },
    );

    app.post(
      '/escalation-policies',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Create an escalation policy',
          body: PolicyBody,
          response: responses({ 201: PolicySchema }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const levels = await checkedLevels(ctx, tenantId, request.body.levels);
        const policy = await createEscalationPolicy(ctx.pool, tenantId, {
          name: request.body.name,
          description: request.body.description ?? null,
          levels,
        }).catch(nameTaken);
        const shown = show(policy);
        request.audit = { resourceType: 'escalation_policy', resourceId: policy.id, after: shown };
        return reply.code(201).send(shown);
      },
    );

    app.put(
      '/escalation-policies/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Replace an escalation policy (alerts already escalating keep their plan)',
          params: IdParams,
          body: PolicyBody,
          response: responses({ 200: PolicySchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const id = request.params.id;
        const before = await getEscalationPolicy(ctx.pool, tenantId, id);
        if (before === undefined) throw notFound('escalation policy', id);
        const levels = await checkedLevels(ctx, tenantId, request.body.levels);
        const after = await updateEscalationPolicy(ctx.pool, tenantId, id, {
          name: request.body.name,
          description: request.body.description ?? null,
          levels,
        }).catch(nameTaken);
        if (after === undefined) throw notFound('escalation policy', id);
        const shown = show(after);
        request.audit = {
          resourceType: 'escalation_policy',
          resourceId: id,
          before: show(before),
          after: shown,
        };
        return shown;
      },
    );

    app.delete(
      '/escalation-policies/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Delete an escalation policy (and the severity defaults naming it)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const before = await getEscalationPolicy(ctx.pool, tenantId, request.params.id);
        if (
          before === undefined ||
          !(await deleteEscalationPolicy(ctx.pool, tenantId, before.id))
        ) {
          throw notFound('escalation policy', request.params.id);
        }
        request.audit = {
          resourceType: 'escalation_policy',
          resourceId: before.id,
          before: show(before),
        };
        return reply.code(204).send(null);
      },
    );
  },
};
