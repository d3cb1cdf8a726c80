/**
 * Who a policy step reaches, and when: targets (users, teams, shared contact points) resolved
 * to contact points, filtered by each user's preferences (channels per severity, muted rules),
 * and held until the end of their quiet hours unless the alert is critical and they let
 * critical alerts through.
 */
import { DateTime } from 'luxon';
import type { ContactPointWithSecret } from '../../../db/notify/contact-points.ts';
import type { NotificationPreferences } from '../../../db/notify/preferences.ts';
import type { ChannelKind, PolicyTarget } from './policy.ts';

export interface Recipient {
  readonly contactPoint: ContactPointWithSecret;
  /** The user it belongs to (null: a shared contact point). */
  readonly userId: string | null;
  /** Not sent before (quiet hours); undefined: now. */
  readonly notBefore?: number;
}

/** What resolving needs from the database, loaded by the caller. */
export interface RecipientDirectory {
  /** Users of a team (only its leads when asked). */
  teamMembers(teamId: string, leadsOnly: boolean): Promise<string[]>;
  usersContactPoints(userIds: readonly string[]): Promise<ContactPointWithSecret[]>;
  contactPoints(ids: readonly string[]): Promise<ContactPointWithSecret[]>;
  preferences(userIds: readonly string[]): Promise<Map<string, NotificationPreferences>>;
}

export interface AlertFacts {
  readonly ruleId: string;
  readonly severity: string;
}

export async function resolveRecipients(
  targets: readonly PolicyTarget[],
  alert: AlertFacts,
  directory: RecipientDirectory,
  now: number,
): Promise<Recipient[]> {
  // user id -> channel kinds the policy allows for them (undefined: any)
  const users = new Map<string, Set<ChannelKind> | undefined>();
  const allow = (userId: string, channels: readonly ChannelKind[] | undefined) => {
    const current = users.get(userId);
    if (users.has(userId) && current === undefined) return;
    if (channels === undefined) users.set(userId, undefined);
    else users.set(userId, new Set([...(current ?? []), ...channels]));
  };
  const shared: string[] = [];
  for (const t of targets) {
    if (t.type === 'user') allow(t.id, t.channels);
    else if (t.type === 'team') {
      for (const id of await directory.teamMembers(t.id, t.members === 'lead'))
        allow(id, t.channels);
    } else shared.push(t.id);
  }
  const out: Recipient[] = [];
  for (const cp of await directory.contactPoints(shared)) {
    if (cp.enabled && cp.userId === null) out.push({ contactPoint: cp, userId: null });
  }
  const ids = [...users.keys()];
  if (ids.length === 0) return out;
  const prefs = await directory.preferences(ids);
  for (const cp of await directory.usersContactPoints(ids)) {
    const userId = cp.userId;
    if (userId === null || !cp.enabled) continue;
    const pref = prefs.get(userId);
    const allowed = users.get(userId);
    if (allowed !== undefined && !allowed.has(cp.kind)) continue;
    if (pref !== undefined) {
      if (pref.mutedRuleIds.includes(alert.ruleId)) continue;
      const bySeverity = pref.channelsBySeverity[alert.severity];
      if (bySeverity !== undefined && !bySeverity.includes(cp.kind)) continue;
    }
    const until = pref === undefined ? undefined : quietUntil(pref, alert.severity, now);
    out.push({ contactPoint: cp, userId, ...(until === undefined ? {} : { notBefore: until }) });
  }
  return out;
}

/** The end of the user's quiet hours if `now` falls inside them (and they apply), else undefined. */
export function quietUntil(
  pref: NotificationPreferences,
  severity: string,
  now: number,
): number | undefined {
  const quiet = pref.quietHours;
  if (quiet === null) return undefined;
  if (severity === 'critical' && pref.criticalBypassesQuiet) return undefined;
  const local = DateTime.fromMillis(now, { zone: pref.timeZone });
  if (!local.isValid) return undefined;
  const minutes = (hhmm: string) => {
    const [h, m] = hhmm.split(':').map(Number);
    return (h ?? 0) * 60 + (m ?? 0);
  };
  const start = minutes(quiet.start);
  const end = minutes(quiet.end);
  const at = local.hour * 60 + local.minute;
  const inside = start <= end ? at >= start && at < end : at >= start || at < end;
  if (!inside) return undefined;
  // The next wall-clock `end` after now, in the user's zone (DST-safe through luxon).
  let until = local.set({
    hour: Math.floor(end / 60),
    minute: end % 60,
    second: 0,
    millisecond: 0,
  });
  if (until.toMillis() <= now) until = until.plus({ days: 1 });
  return until.toMillis();
}
