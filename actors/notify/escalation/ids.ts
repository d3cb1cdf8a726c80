import { type ActorId, actorId } from '../../../runtime/index.ts';

export const ESCALATION_KIND = 'escalation';

/** `escalation/{tenantId}:{alertId}`: one per alert. */
export function escalationActorId(tenantId: string, alertId: string): ActorId {
  return actorId(ESCALATION_KIND, `${tenantId}:${alertId}`);
}
