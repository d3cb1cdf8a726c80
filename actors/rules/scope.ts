/** Which devices a rule (or a maintenance window) covers. */
import type { Scope } from './model.ts';

export interface ScopedDevice {
  readonly key: string;
  readonly groups: readonly string[];
  readonly tags: readonly string[];
}

/**
 * Whether `device` is in `scope`. A tags scope needs every tag of `all` and at least one of
 * `any` (an omitted list is no constraint; both omitted matches nothing, as validation refuses
 * it). An unknown scope type matches nothing.
 */
export function scopeMatches(scope: Scope, device: ScopedDevice): boolean {
  switch (scope.type) {
    case 'tenant':
      return true;
    case 'device':
      return scope.device === device.key;
    case 'devices':
      return scope.devices.includes(device.key);
    case 'group':
      return device.groups.includes(scope.group);
    case 'tags': {
      const { all, any } = scope;
      if (all === undefined && any === undefined) return false;
      if (all !== undefined && !all.every((t) => device.tags.includes(t))) return false;
      return any === undefined || any.some((t) => device.tags.includes(t));
    }
    default:
      return false;
  }
}
