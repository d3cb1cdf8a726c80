import type { Role } from './context.ts';

/** Dashboard and API roles, strongest first. `device` stands apart: it may only ingest. */
export const STAFF_ROLES = ['admin', 'operator', 'viewer'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];
export const ROLES = [...STAFF_ROLES, 'device'] as const satisfies readonly Role[];

const RANK: Record<StaffRole, number> = { admin: 3, operator: 2, viewer: 1 };

/**
 * Whether a caller with role `have` may use a route that requires `need`. Staff roles are
 * ordered (admin > operator > viewer); a device may only use device routes, and device routes
 * accept only devices (a leaked admin key is not also a telemetry source).
 */
export function satisfies(have: Role, need: Role): boolean {
  if (need === 'device' || have === 'device') return have === need;
  return RANK[have] >= RANK[need];
}
