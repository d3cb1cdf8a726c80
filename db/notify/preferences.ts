import type { Queryable } from './sql.ts';

/**
 * Per-user notification preferences (notification_preferences). A user without a row has
 * DEFAULT_PREFERENCES. What they mean is applied by the escalation work; this module stores
 * them and refuses malformed values with an error naming the field.
 */

export interface QuietHours {
  /** Local wall-clock 'HH:MM' in the preferences' time zone; start > end spans midnight. */
  readonly start: string;
  readonly end: string;
}

export interface NotificationPreferences {
  /** Channel kinds per severity; a severity not listed uses every channel the user has. */
  readonly channelsBySeverity: Readonly<Record<string, readonly string[]>>;
  readonly quietHours: QuietHours | null;
  /** IANA time zone of the quiet hours. */
  readonly timeZone: string;
  readonly criticalBypassesQuiet: boolean;
  readonly mutedRuleIds: readonly string[];
  /** Gather low severities (minor, warning, info) into a digest. */
  readonly digest: boolean;
  readonly digestIntervalMinutes: number;
}

export const DEFAULT_PREFERENCES: NotificationPreferences = {
  channelsBySeverity: {},
  quietHours: null,
  timeZone: 'UTC',
  criticalBypassesQuiet: true,
  mutedRuleIds: [],
  digest: false,
  digestIntervalMinutes: 60,
};

export class PreferencesError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PreferencesError';
  }
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Throws PreferencesError naming the first bad field. */
export function validatePreferences(p: NotificationPreferences): void {
  for (const [severity, channels] of Object.entries(p.channelsBySeverity)) {
    if (!Array.isArray(channels) || channels.some((c) => typeof c !== 'string')) {
      throw new PreferencesError(
        `channelsBySeverity.${severity}`,
        'must be an array of channel names',
      );
    }
  }
  if (p.quietHours !== null) {
    if (!HHMM.test(p.quietHours.start)) {
      throw new PreferencesError('quietHours.start', `must be HH:MM, got '${p.quietHours.start}'`);
    }
    if (!HHMM.test(p.quietHours.end)) {
      throw new PreferencesError('quietHours.end', `must be HH:MM, got '${p.quietHours.end}'`);
    }
  }
  if (!isTimeZone(p.timeZone)) {
    throw new PreferencesError('timeZone', `unknown time zone '${p.timeZone}'`);
  }
  if (p.mutedRuleIds.some((id) => !/^\d{1,18}$/.test(id))) {
    throw new PreferencesError('mutedRuleIds', 'must be rule ids (digits)');
  }
  if (
    !Number.isInteger(p.digestIntervalMinutes) ||
    p.digestIntervalMinutes < 5 ||
    p.digestIntervalMinutes > 1440
  ) {
    throw new PreferencesError('digestIntervalMinutes', 'must be an integer from 5 to 1440');
  }
}

interface Row {
  user_id: string;
  channels_by_severity: string;
  quiet_start: string | null;
  quiet_end: string | null;
  time_zone: string;
  critical_bypasses_quiet: boolean;
  muted_rule_ids: string[];
  digest: boolean;
  digest_interval_minutes: number;
}

const hhmm = (time: string): string => time.slice(0, 5);

function toPreferences(r: Row): NotificationPreferences {
  return {
    channelsBySeverity: JSON.parse(r.channels_by_severity) as Record<string, string[]>,
    quietHours:
      r.quiet_start === null || r.quiet_end === null
        ? null
        : { start: hhmm(r.quiet_start), end: hhmm(r.quiet_end) },
    timeZone: r.time_zone,
    criticalBypassesQuiet: r.critical_bypasses_quiet,
    mutedRuleIds: r.muted_rule_ids,
    digest: r.digest,
    digestIntervalMinutes: r.digest_interval_minutes,
  };
}

/** Preferences of some users; users without a row get DEFAULT_PREFERENCES. */
export async function getPreferences(
  db: Queryable,
  tenantId: string,
  userIds: readonly string[],
): Promise<Map<string, NotificationPreferences>> {
  const out = new Map<string, NotificationPreferences>();
  for (const id of userIds) out.set(id, DEFAULT_PREFERENCES);
  if (userIds.length === 0) return out;
  const { rows } = await db.query<Row>(
    `SELECT user_id::text AS user_id, channels_by_severity::text AS channels_by_severity,
            quiet_start::text AS quiet_start, quiet_end::text AS quiet_end, time_zone,
            critical_bypasses_quiet, muted_rule_ids::text[] AS muted_rule_ids, digest,
            digest_interval_minutes
       FROM notification_preferences WHERE tenant_id = $1 AND user_id = ANY($2::bigint[])`,
    [tenantId, [...userIds]],
  );
  for (const r of rows) out.set(r.user_id, toPreferences(r));
  return out;
}

/** Writes a user's preferences (whole), after validatePreferences. */
export async function putPreferences(
  db: Queryable,
  tenantId: string,
  userId: string,
  p: NotificationPreferences,
): Promise<void> {
  validatePreferences(p);
  await db.query(
    `INSERT INTO notification_preferences
       (tenant_id, user_id, channels_by_severity, quiet_start, quiet_end, time_zone,
        critical_bypasses_quiet, muted_rule_ids, digest, digest_interval_minutes)
     VALUES ($1, $2, $3::jsonb, $4::time, $5::time, $6, $7, $8::bigint[], $9, $10)
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET
       channels_by_severity = excluded.channels_by_severity, quiet_start = excluded.quiet_start,
       quiet_end = excluded.quiet_end, time_zone = excluded.time_zone,
       critical_bypasses_quiet = excluded.critical_bypasses_quiet,
       muted_rule_ids = excluded.muted_rule_ids, digest = excluded.digest,
       digest_interval_minutes = excluded.digest_interval_minutes`,
    [
      tenantId,
      userId,
      JSON.stringify(p.channelsBySeverity),
      p.quietHours?.start ?? null,
      p.quietHours?.end ?? null,
      p.timeZone,
      p.criticalBypassesQuiet,
      [...p.mutedRuleIds],
      p.digest,
      p.digestIntervalMinutes,
    ],
  );
}
