import { Type } from '@sinclair/typebox';
import {
  type Alert,
  type AlertChange,
  type AlertSeverity,
  type AlertState,
  AlertTransitionError,
} from '../../db/alerts/alert-store.ts';
import type { AuthContext } from '../auth/context.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, encodeCursor, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { conflict, notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { AlertingAccess } from './alerting-access.ts';
import type { ApiContext, ApiResource } from './context.ts';

const STATES = ['active', 'acknowledged', 'resolved'] as const;
const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;

const AlertSchema = Type.Object({
  id: Id,
  ruleId: Id,
  ruleVersion: Type.Integer(),
  deviceKey: Nullable(Type.String()),
  state: Type.Union(STATES.map((s) => Type.Literal(s))),
  severity: Type.Union(SEVERITIES.map((s) => Type.Literal(s))),
  suppressed: Nullable(Type.String({ description: 'maintenance, inhibited or flapping' })),
  flapping: Type.Boolean(),
  openedAt: Timestamp,
  lastAt: Timestamp,
  count: Type.Integer({ description: 'Breaches folded into this alert' }),
  lastValues: Type.Object({}, { additionalProperties: true }),
  devices: Nullable(Type.Array(Type.String(), { description: 'Aggregates: devices counted' })),
  acknowledgedAt: Nullable(Timestamp),
  acknowledgedBy: Nullable(Type.String()),
  resolvedAt: Nullable(Timestamp),
  resolvedBy: Nullable(Type.String()),
  resolveReason: Nullable(Type.String()),
});

const EventSchema = Type.Object({
  id: Id,
  type: Type.String(),
  actor: Type.String(),
  at: Timestamp,
  details: Type.Object({}, { additionalProperties: true }),
});

const AlertDetail = Type.Intersect([AlertSchema, Type.Object({ events: Type.Array(EventSchema) })]);

const csv = (values: readonly string[]) =>
  Type.String({
    pattern: `^(${values.join('|')})(,(${values.join('|')}))*$`,
    description: values.join(', '),
  });

const ListQuery = Type.Object(
  {
    ...PageQuery,
    state: Type.Optional(csv(STATES)),
    severity: Type.Optional(csv(SEVERITIES)),
    rule: Type.Optional(Id),
    device: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    suppressed: Type.Optional(Type.Boolean()),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

const ResolveBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { additionalProperties: false },
);

const BulkBody = Type.Object(
  {
    ids: Type.Array(Id, { minItems: 1, maxItems: 500, uniqueItems: true }),
    action: Type.Union([Type.Literal('acknowledge'), Type.Literal('resolve')]),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function showAlert(a: Alert) {
  return {
    id: a.id,
    ruleId: a.ruleId,
    ruleVersion: a.ruleVersion,
    deviceKey: a.deviceKey,
    state: a.state,
    severity: a.severity,
    suppressed: a.suppressed,
    flapping: a.flapping,
    openedAt: new Date(a.openedAt).toISOString(),
    lastAt: new Date(a.lastAt).toISOString(),
    count: a.count,
    lastValues: a.lastValues,
    devices: a.devices === null ? null : [...a.devices],
    acknowledgedAt: iso(a.acknowledgedAt),
    acknowledgedBy: a.acknowledgedBy,
    resolvedAt: iso(a.resolvedAt),
    resolvedBy: a.resolvedBy,
    resolveReason: a.resolveReason,
  };
}

/** `user:7` or `api_key:3`: who did it, as alert events record it. */
function actorOf(auth: AuthContext): string {
  return `${auth.principal.kind}:${auth.principal.id}`;
}

function alertingOf(ctx: ApiContext): AlertingAccess {
  const a = ctx.deps.alerting;
  if (a === undefined) throw new ProblemError(503, 'unavailable', 'alerting is not running here');
  return a;
}

function refused(err: unknown, id: string): never {
  if (err instanceof AlertTransitionError) {
    if (err.code === 'not-found') throw notFound('alert', id);
    throw conflict(err.message);
  }
  throw err;
}

export const alertsResource: ApiResource = {
  tag: 'alerts',
  description: 'Alerts: list and filter, detail with events, acknowledge, resolve, in bulk',
  routes(app, ctx) {
    const announce = (change: AlertChange) => ctx.deps.alerting?.announce?.(change);

    app.get(
      '/alerts',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List alerts, newest first',
          querystring: ListQuery,
          response: responses({ 200: Page(AlertSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        const limit = pageSize(q);
        const before = afterId(q);
        const page = await alertingOf(ctx).alerts.list(authOf(request).tenantId, {
          limit,
          ...(before === undefined ? {} : { beforeId: before }),
          ...(q.state === undefined ? {} : { states: q.state.split(',') as AlertState[] }),
          ...(q.severity === undefined
            ? {}
            : { severities: q.severity.split(',') as AlertSeverity[] }),
          ...(q.rule === undefined ? {} : { ruleId: q.rule }),
          ...(q.device === undefined ? {} : { deviceKey: q.device }),
          ...(q.suppressed === undefined ? {} : { suppressed: q.suppressed }),
          ...(q.from === undefined ? {} : { from: Date.parse(q.from) }),
          ...(q.to === undefined ? {} : { to: Date.parse(q.to) }),
        });
        const last = page.items.at(-1);
        return {
          items: page.items.map(showAlert),
          nextCursor: page.more && last !== undefined ? encodeCursor({ after: last.id }) : null,
        };
      },
    );

    app.get(
      '/alerts/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'An alert with its events',
          params: IdParams,
          response: responses({ 200: AlertDetail }),
        },
      },
      async (request) => {
        const alerts = alertingOf(ctx).alerts;
        const alert = await alerts.get(authOf(request).tenantId, request.params.id);
        if (alert === undefined) throw notFound('alert', request.params.id);
        const events = await alerts.events(alert.id);
        return {
          ...showAlert(alert),
          events: events.map((e) => ({
            id: e.id,
            type: e.type,
            actor: e.actor,
            at: new Date(e.at).toISOString(),
            details: e.details,
          })),
        };
      },
    );

    app.post(
      '/alerts/:id/acknowledge',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Acknowledge an alert (stops its escalation)',
          params: IdParams,
          response: responses({ 200: AlertSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        const alerts = alertingOf(ctx).alerts;
        const before = await alerts.get(auth.tenantId, request.params.id);
        const change = await alerts
          .acknowledge(auth.tenantId, request.params.id, actorOf(auth), ctx.now())
          .catch((err: unknown) => refused(err, request.params.id));
        announce(change);
        const after = showAlert(change.alert);
        request.audit = {
          action: 'alert.acknowledge',
          resourceType: 'alert',
          resourceId: change.alert.id,
          ...(before === undefined ? {} : { before: showAlert(before) }),
          after,
        };
        return after;
      },
    );

    app.post(
      '/alerts/:id/resolve',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Resolve an alert by hand (with or without acknowledging it first)',
          params: IdParams,
          body: ResolveBody,
          response: responses({ 200: AlertSchema }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        const alerts = alertingOf(ctx).alerts;
        const before = await alerts.get(auth.tenantId, request.params.id);
        const change = await alerts
          .resolve(auth.tenantId, request.params.id, actorOf(auth), ctx.now(), request.body.reason)
          .catch((err: unknown) => refused(err, request.params.id));
        announce(change);
        const after = showAlert(change.alert);
        request.audit = {
          action: 'alert.resolve',
          resourceType: 'alert',
          resourceId: change.alert.id,
          ...(before === undefined ? {} : { before: showAlert(before) }),
          after,
        };
        return after;
      },
    );

    app.post(
      '/alerts/bulk',
      {
        config: { role: 'operator' },
        schema: {
          summary:
            'Acknowledge or resolve many alerts of the tenant (404 if any is unknown); each gets its own outcome',
          body: BulkBody,
          response: responses({
            200: Type.Object({
              results: Type.Array(
                Type.Object({ id: Id, ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
              ),
            }),
          }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        const alerts = alertingOf(ctx).alerts;
        // All or nothing on existence: an id outside the tenant is a 404, as everywhere.
        for (const id of request.body.ids) {
          if ((await alerts.get(auth.tenantId, id)) === undefined) throw notFound('alert', id);
        }
        const results: Array<{ id: string; ok: boolean; error?: string }> = [];
        for (const id of request.body.ids) {
          try {
            const change =
              request.body.action === 'acknowledge'
                ? await alerts.acknowledge(auth.tenantId, id, actorOf(auth), ctx.now())
                : await alerts.resolve(
                    auth.tenantId,
                    id,
                    actorOf(auth),
                    ctx.now(),
                    request.body.reason,
                  );
            announce(change);
            results.push({ id, ok: true });
          } catch (err) {
            if (!(err instanceof AlertTransitionError)) throw err;
            results.push({
              id,
              ok: false,
              error: err.code === 'not-found' ? `alert ${id} not found` : err.message,
            });
          }
        }
        request.audit = {
          action: `alert.bulk_${request.body.action}`,
          resourceType: 'alert',
          after: { ids: request.body.ids, results },
        };
        return { results };
      },
    );
  },
};
