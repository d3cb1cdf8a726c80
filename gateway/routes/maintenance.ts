import { Type } from '@sinclair/typebox';
import type { MaintenanceWindow } from '../../actors/rules/model.ts';
import { validateMaintenanceWindow } from '../../actors/rules/time/maintenance.ts';
import { DefinitionRepo, type StoredDefinition } from '../../db/alerts/rule-repo.ts';
import { authOf } from '../auth/hooks.ts';
import { Page, PageQuery } from '../http/pagination.ts';
import { notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, NoContent, responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { definitionPage, liveDefinition } from './definitions.ts';

type WindowDefinition = Omit<MaintenanceWindow, 'id' | 'tenantId'>;

const Names = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
  minItems: 1,
  maxItems: 1000,
});

/** The same scopes as rules (docs/rules.md). */
export const ScopeSchema = Type.Union([
  Type.Object(
    { type: Type.Literal('device'), device: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('devices'), devices: Names }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('group'), group: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('tags'), all: Type.Optional(Names), any: Type.Optional(Names) },
    { additionalProperties: false, minProperties: 2 },
  ),
  Type.Object({ type: Type.Literal('tenant') }, { additionalProperties: false }),
]);

const WindowBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scope: ScopeSchema,
    rules: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 1000 })),
    start: Type.String({ description: 'First start, ISO 8601 with offset' }),
    duration: Type.String({ description: 'e.g. 2h' }),
    rrule: Type.Optional(
      Type.String({ description: 'RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=SU' }),
    ),
    timezone: Type.Optional(Type.String({ description: 'IANA zone the recurrence follows' })),
  },
  { additionalProperties: false },
);

const WindowSchema = Type.Object({
  id: Id,
  name: Type.String(),
  version: Type.Integer(),
  updatedAt: Timestamp,
  definition: Type.Object({}, { additionalProperties: true }),
});

function show(row: StoredDefinition<WindowDefinition>) {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    definition: row.definition as unknown as Record<string, unknown>,
  };
}

/** Timing problems (start, duration, RRULE, zone) as a 422 naming each field. */
function checked(body: WindowDefinition): WindowDefinition {
  const problems = validateMaintenanceWindow(body, 'body');
  if (problems.length === 0) return body;
  const errors = problems.map((p) => {
    const i = p.indexOf(': ');
    return { path: p.slice(0, i), message: p.slice(i + 2) };
  });
  throw new ProblemError(422, 'invalid-maintenance-window', problems.join('; '), errors);
}

export const maintenanceResource: ApiResource = {
  tag: 'maintenance',
  description: 'Maintenance windows: alerts they cover are recorded but notify no one',
  routes(app, ctx) {
    const repo = new DefinitionRepo<WindowDefinition>(ctx.pool, 'maintenance_windows');
    const refresh = () => ctx.deps.alerting?.refreshRules() ?? Promise.resolve();

    app.get(
      '/maintenance-windows',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List maintenance windows',
          querystring: Type.Object({ ...PageQuery }, { additionalProperties: false }),
          response: responses({ 200: Page(WindowSchema) }),
        },
      },
      async (request) => {
        return definitionPage(repo, authOf(request).tenantId, request.query, show);
      },
    );

    app.get(
      '/maintenance-windows/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a maintenance window',
          params: IdParams,
          response: responses({ 200: WindowSchema }),
        },
      },
      async (request) => {
        const row = await liveDefinition(
          repo,
          authOf(request).tenantId,
          request.params.id,
          'maintenance window',
        );
        return show(row);
      },
    );

    app.post(
      '/maintenance-windows',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Create a maintenance window',
          body: WindowBody,
          response: responses({ 201: WindowSchema }),
        },
      },
      async (request, reply) => {
        const row = await repo.create(authOf(request).tenantId, checked(request.body));
        await refresh();
        const shown = show(row);
        request.audit = { resourceType: 'maintenance_window', resourceId: row.id, after: shown };
        return reply.code(201).send(shown);
      },
    );

    app.put(
      '/maintenance-windows/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Replace a maintenance window',
          params: IdParams,
          body: WindowBody,
          response: responses({ 200: WindowSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await liveDefinition(
          repo,
          tenantId,
          request.params.id,
          'maintenance window',
        );
        const after = await repo.update(tenantId, request.params.id, checked(request.body));
        if (after === undefined) throw notFound('maintenance window', request.params.id);
        await refresh();
        request.audit = {
          resourceType: 'maintenance_window',
          resourceId: after.id,
          before: show(before),
          after: show(after),
        };
        return show(after);
      },
    );

    app.delete(
      '/maintenance-windows/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Delete a maintenance window (covered alerts notify once if still active)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const before = await repo.remove(authOf(request).tenantId, request.params.id);
        if (before === undefined) throw notFound('maintenance window', request.params.id);
        await refresh();
        request.audit = {
          resourceType: 'maintenance_window',
          resourceId: before.id,
          before: show(before),
        };
        return reply.code(204).send(null);
      },
    );
  },
};
