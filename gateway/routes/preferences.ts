import { Type } from '@sinclair/typebox';
import { CHANNEL_KINDS } from '../../actors/notify/escalation/policy.ts';
import { SEVERITIES } from '../../actors/notify/types.ts';
import { getUser } from '../../db/gateway/users.ts';
import {
  DEFAULT_PREFERENCES,
  getPreferences,
  type NotificationPreferences,
  PreferencesError,
  putPreferences,
  validatePreferences,
} from '../../db/notify/preferences.ts';
import { authOf } from '../auth/hooks.ts';
import { notFound, ProblemError } from '../http/problem.ts';
import { Id, IdParams, Nullable, responses } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';

const Channels = Type.Array(Type.Union(CHANNEL_KINDS.map((k) => Type.Literal(k))), {
  maxItems: CHANNEL_KINDS.length,
  uniqueItems: true,
});

const ChannelsBySeverity = Type.Object(
  Object.fromEntries(SEVERITIES.map((s) => [s, Type.Optional(Channels)])),
  {
    additionalProperties: false,
    description: 'Channel kinds per severity; a severity not listed uses every channel',
  },
);

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM' });

const QuietHours = Type.Object(
  { start: HHMM, end: HHMM },
  {
    additionalProperties: false,
    description: 'Local time in timeZone; start > end spans midnight',
  },
);

const fields = {
  channelsBySeverity: ChannelsBySeverity,
  quietHours: Nullable(QuietHours),
  timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone' }),
  criticalBypassesQuiet: Type.Boolean(),
  mutedRuleIds: Type.Array(Id, { maxItems: 1_000 }),
  digest: Type.Boolean({ description: 'Gather minor, warning and info alerts into a digest' }),
  digestIntervalMinutes: Type.Integer({ minimum: 5, maximum: 1440 }),
};

const PreferencesSchema = Type.Object(fields);

/** PUT replaces the whole; a field left out takes its default. */
const PreferencesBody = Type.Object(
  Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, Type.Optional(s)])),
  { additionalProperties: false },
);

function show(p: NotificationPreferences) {
  return {
    channelsBySeverity: Object.fromEntries(
      Object.entries(p.channelsBySeverity).map(([k, v]) => [k, [...v]]),
    ),
    quietHours: p.quietHours === null ? null : { ...p.quietHours },
    timeZone: p.timeZone,
    criticalBypassesQuiet: p.criticalBypassesQuiet,
    mutedRuleIds: [...p.mutedRuleIds],
    digest: p.digest,
    digestIntervalMinutes: p.digestIntervalMinutes,
  };
}

export const preferencesResource: ApiResource = {
  tag: 'preferences',
  description: "Users' notification preferences: channels per severity, quiet hours, digests",
  routes(app, ctx) {
    const userOrNotFound = async (tenantId: string, id: string) => {
      if ((await getUser(ctx.pool, tenantId, id)) === undefined) throw notFound('user', id);
    };

    app.get(
      '/users/:id/preferences',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "Read a user's notification preferences (defaults when never set)",
          params: IdParams,
          response: responses({ 200: PreferencesSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        await userOrNotFound(tenantId, request.params.id);
        const prefs = await getPreferences(ctx.pool, tenantId, [request.params.id]);
        return show(prefs.get(request.params.id) ?? DEFAULT_PREFERENCES);
      },
    );

    app.put(
      '/users/:id/preferences',
      {
        config: { role: 'operator' },
        schema: {
          summary: "Replace a user's notification preferences",
          params: IdParams,
          body: PreferencesBody,
          response: responses({ 200: PreferencesSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const userId = request.params.id;
        await userOrNotFound(tenantId, userId);
        const next = {
          ...DEFAULT_PREFERENCES,
          ...request.body,
        } as NotificationPreferences;
        try {
          validatePreferences(next);
        } catch (err) {
          if (err instanceof PreferencesError) {
            const path = `body.${err.field}`;
            const message = err.message.replace(`${err.field}: `, '');
            throw new ProblemError(422, 'validation', `${path} ${message}`, [{ path, message }]);
          }
          throw err;
        }
        const before = (await getPreferences(ctx.pool, tenantId, [userId])).get(userId);
        await putPreferences(ctx.pool, tenantId, userId, next);
        const after = show(next);
        request.audit = {
          resourceType: 'notification_preferences',
          resourceId: userId,
          ...(before === undefined ? {} : { before: show(before) }),
          after,
        };
        return after;
      },
    );
  },
};
