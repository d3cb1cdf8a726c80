import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { MAX_BACKTEST_RANGE_MS, runBacktest } from '../../actors/rules/backtest/run.ts';
import { validateRule } from '../../actors/rules/format/index.ts';
import type { Rule, RuleDefinition } from '../../actors/rules/model.ts';
import { DefinitionRepo, type StoredDefinition } from '../../db/alerts/rule-repo.ts';
import { authOf } from '../auth/hooks.ts';
import { Page, PageQuery } from '../http/pagination.ts';
import { conflict, invalid, notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, NoContent, responses, Timestamp } from '../http/schemas.ts';
import type { AlertingAccess } from './alerting-access.ts';
import type { ApiContext, ApiResource } from './context.ts';
import { definitionPage, liveDefinition } from './definitions.ts';

/** A rule as the API shows it: the definition the user wrote, plus identity and version. */
const RuleSchema = Type.Object({
  id: Id,
  name: Type.String(),
  enabled: Type.Boolean(),
  version: Type.Integer({ description: 'Bumped by every change' }),
  updatedAt: Timestamp,
  definition: Type.Object({}, { additionalProperties: true, description: 'See docs/rules.md' }),
});

/** Rule bodies are validated by validateRule (paths like body.condition.all[2].value). */
const RuleBody = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'A rule definition (docs/rules.md, rule.schema.json)',
  },
);

const Validation = Type.Object({
  valid: Type.Boolean(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

const Range = {
  from: Timestamp,
  to: Timestamp,
};

const BacktestAlertSchema = Type.Object({
  deviceKey: Type.Union([Type.String(), Type.Null()]),
  openedAt: Timestamp,
  resolvedAt: Type.Union([Timestamp, Type.Null()]),
  severity: Type.String(),
  values: Type.Object({}, { additionalProperties: true }),
  devices: Type.Optional(Type.Array(Type.String())),
});

const BacktestResultSchema = Type.Object({
  alerts: Type.Array(BacktestAlertSchema),
  devices: Type.Integer(),
  readings: Type.Integer(),
  evaluations: Type.Integer(),
  mode: Type.String(),
});

function show(row: StoredDefinition<RuleDefinition>) {
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    definition: row.definition as unknown as Record<string, unknown>,
  };
}

/** The definition, or a 422 problem naming every offending field. */
function checked(body: unknown, at = 'body'): RuleDefinition {
  const v = validateRule(body);
  if (v.ok) return v.rule;
  const errors = v.errors.map((e) => ({
    path: e.path === '' ? at : `${at}.${e.path}`,
    message: e.message,
  }));
  throw new ProblemError(
    422,
    'invalid-rule',
    errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    errors,
  );
}

function alertingOf(ctx: ApiContext): AlertingAccess {
  const a = ctx.deps.alerting;
  if (a === undefined) throw new ProblemError(503, 'unavailable', 'alerting is not running here');
  return a;
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';
}

function range(body: { from: string; to: string }): { from: number; to: number } {
  const from = Date.parse(body.from);
  const to = Date.parse(body.to);
  if (!(to > from)) throw invalid('body.to', 'must be after body.from', 422);
  if (to - from > MAX_BACKTEST_RANGE_MS)
    throw invalid('body.to', 'range longer than 366 days', 422);
  return { from, to };
}

export const rulesResource: ApiResource = {
  tag: 'rules',
  description:
    'Alert rules: create, change, validate, preview and backtest against recorded telemetry',
  routes(app, ctx) {
    const repo = new DefinitionRepo<RuleDefinition>(ctx.pool, 'rules');

    const backtest = async (
      request: { headers: Record<string, string | string[] | undefined> },
      reply: import('fastify').FastifyReply,
      rule: Rule,
      span: { from: number; to: number },
    ) => {
      const alerting = alertingOf(ctx);
      const asStream = String(request.headers.accept ?? '').includes('application/x-ndjson');
      const run = (onProgress?: (p: object) => void) =>
        runBacktest({
          pool: ctx.pool,
          databaseUrl: alerting.databaseUrl,
          rule,
          ...span,
          ...(onProgress === undefined ? {} : { onProgress }),
        });
      const shape = (r: Awaited<ReturnType<typeof run>>) => ({
        alerts: r.alerts.map((a) => ({
          ...a,
          openedAt: new Date(a.openedAt).toISOString(),
          resolvedAt: a.resolvedAt === null ? null : new Date(a.resolvedAt).toISOString(),
          values: { ...a.values },
          ...(a.devices === undefined ? {} : { devices: [...a.devices] }),
        })),
        devices: r.devices,
        readings: r.readings,
        evaluations: r.evaluations,
        mode: r.mode,
      });
      if (!asStream) return shape(await run());
      // Progress as it happens, then the result: one JSON object per line.
      const out = new PassThrough();
      reply.type('application/x-ndjson');
      run((p) => out.write(`${JSON.stringify({ progress: p })}\n`)).then(
        (r) => out.end(`${JSON.stringify({ result: shape(r) })}\n`),
        (err: unknown) => out.end(`${JSON.stringify({ error: String(err) })}\n`),
      );
      return reply.send(out);
    };

    app.get(
      '/rules',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List rules',
          querystring: Type.Object({ ...PageQuery }, { additionalProperties: false }),
          response: responses({ 200: Page(RuleSchema) }),
        },
      },
      async (request) => {
        return definitionPage(repo, authOf(request).tenantId, request.query, show);
      },
    );

    app.get(
      '/rules/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a rule',
          params: IdParams,
          response: responses({ 200: RuleSchema }),
        },
      },
      async (request) => {
        const row = await liveDefinition(repo, authOf(request).tenantId, request.params.id, 'rule');
        return show(row);
      },
    );

    app.post(
      '/rules/validate',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Validate a rule without saving it',
          body: RuleBody,
          response: responses({ 200: Validation }),
        },
      },
      async (request) => {
        const v = validateRule(request.body);
        return { valid: v.ok, errors: v.ok ? [] : v.errors.map((e) => ({ ...e })) };
      },
    );

    app.post(
      '/rules',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Create a rule',
          body: RuleBody,
          response: responses({ 201: RuleSchema }),
        },
      },
      async (request, reply) => {
        const definition = checked(request.body);
        const row = await repo
          .create(authOf(request).tenantId, definition)
          .catch((err: unknown) => {
            if (isUniqueViolation(err)) throw conflict('a rule with this name exists', 'body.name');
            throw err;
          });
        await alertingOf(ctx).refreshRules();
        const shown = show(row);
        request.audit = { resourceType: 'rule', resourceId: row.id, after: shown };
        return reply.code(201).send(shown);
      },
    );

    app.put(
      '/rules/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Replace a rule (applies live; its version goes up)',
          params: IdParams,
          body: RuleBody,
          response: responses({ 200: RuleSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await liveDefinition(repo, tenantId, request.params.id, 'rule');
        const definition = checked(request.body);
        const after = await repo
          .update(tenantId, request.params.id, definition)
          .catch((err: unknown) => {
            if (isUniqueViolation(err)) throw conflict('a rule with this name exists', 'body.name');
            throw err;
          });
        if (after === undefined) throw notFound('rule', request.params.id);
        await alertingOf(ctx).refreshRules();
        request.audit = {
          resourceType: 'rule',
          resourceId: after.id,
          before: show(before),
          after: show(after),
        };
        return show(after);
      },
    );

    app.patch(
      '/rules/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Enable or disable a rule (disabling resolves its open alerts)',
          params: IdParams,
          body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
          response: responses({ 200: RuleSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await liveDefinition(repo, tenantId, request.params.id, 'rule');
        const after = await repo.update(tenantId, request.params.id, {
          ...before.definition,
          enabled: request.body.enabled,
        });
        if (after === undefined) throw notFound('rule', request.params.id);
        await alertingOf(ctx).refreshRules();
        request.audit = {
          action: request.body.enabled ? 'rule.enable' : 'rule.disable',
          resourceType: 'rule',
          resourceId: after.id,
          before: show(before),
          after: show(after),
        };
        return show(after);
      },
    );

    app.delete(
      '/rules/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Delete a rule (its open alerts resolve with a reason)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const before = await repo.remove(authOf(request).tenantId, request.params.id);
        if (before === undefined) throw notFound('rule', request.params.id);
        await alertingOf(ctx).refreshRules();
        request.audit = { resourceType: 'rule', resourceId: before.id, before: show(before) };
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/rules/:id/backtest',
      {
        config: { role: 'viewer' },
        schema: {
          summary:
            'Replay recorded telemetry through a saved rule (Accept: application/x-ndjson streams progress)',
          params: IdParams,
          body: Type.Object(Range, { additionalProperties: false }),
          response: responses({ 200: BacktestResultSchema }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const row = await liveDefinition(repo, tenantId, request.params.id, 'rule');
        const rule: Rule = { ...row.definition, id: row.id, tenantId, version: row.version };
        return backtest(request, reply, rule, range(request.body));
      },
    );

    app.post(
      '/rules/preview',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Replay recorded telemetry through a draft rule (not saved)',
          body: Type.Object({ rule: RuleBody, ...Range }, { additionalProperties: false }),
          response: responses({ 200: BacktestResultSchema }),
        },
      },
      async (request, reply) => {
        const definition = checked(request.body.rule, 'body.rule');
        const rule: Rule = {
          ...definition,
          id: '0',
          tenantId: authOf(request).tenantId,
          version: 0,
        };
        return backtest(request, reply, rule, range(request.body));
      },
    );
  },
};
