import { type LiveEvent, SEVERITIES, type Severity } from './events.ts';

/** What a client asks for; every part optional (absent = no restriction). */
export interface LiveFilterSpec {
  /** Event types, exact or a prefix ending in '*': ['device.status', 'alert.*']. */
  readonly events?: readonly string[];
  /** Device keys. */
  readonly devices?: readonly string[];
  /** Device group names (or ids). With devices: a device in either matches. */
  readonly groups?: readonly string[];
  /** Alert severities to receive; events without a severity (device.status) are not affected. */
  readonly severities?: readonly Severity[];
  /** Alternatively: this severity and above. */
  readonly minSeverity?: Severity;
}

/** A field of a client message that is wrong, named like 'filter.devices[2]'. */
export class LiveFilterError extends Error {
  override readonly name = 'LiveFilterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
  }
}

export const FILTER_LIMITS = { events: 20, devices: 1000, groups: 100 } as const;
const EVENT_PATTERN = /^(device\.status|alert\.[a-z_*]*|alert\.\*|\*)$/;
const KEY_PATTERN = /^[^\s]{1,200}$/;

/** Checks a client's filter, naming the first offending field. */
export function parseFilter(value: unknown): LiveFilterSpec {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LiveFilterError('filter', 'must be an object');
  }
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!['events', 'devices', 'groups', 'severities', 'minSeverity'].includes(key)) {
      throw new LiveFilterError(`filter.${key}`, 'is not allowed');
    }
  }
  const spec: {
    events?: string[];
    devices?: string[];
    groups?: string[];
    severities?: Severity[];
    minSeverity?: Severity;
  } = {};
  const events = strings(raw.events, 'events', FILTER_LIMITS.events, EVENT_PATTERN);
  if (events !== undefined) spec.events = events;
  const devices = strings(raw.devices, 'devices', FILTER_LIMITS.devices, KEY_PATTERN);
  if (devices !== undefined) spec.devices = devices;
  const groups = strings(raw.groups, 'groups', FILTER_LIMITS.groups, KEY_PATTERN);
  if (groups !== undefined) spec.groups = groups;
  const severities = strings(raw.severities, 'severities', SEVERITIES.length, undefined);
  if (severities !== undefined) {
    severities.forEach((s, i) => {
      if (!isSeverity(s)) {
        throw new LiveFilterError(
          `filter.severities[${i}]`,
          `must be one of ${SEVERITIES.join(', ')}`,
        );
      }
    });
    spec.severities = severities as Severity[];
  }
  if (raw.minSeverity !== undefined) {
    if (!isSeverity(raw.minSeverity)) {
      throw new LiveFilterError('filter.minSeverity', `must be one of ${SEVERITIES.join(', ')}`);
    }
    if (spec.severities !== undefined) {
      throw new LiveFilterError('filter.minSeverity', 'cannot be combined with filter.severities');
    }
    spec.minSeverity = raw.minSeverity;
  }
  return spec;
}

function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);
}

function strings(
  value: unknown,
  field: string,
  max: number,
  pattern: RegExp | undefined,
): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new LiveFilterError(`filter.${field}`, 'must be an array');
  if (value.length > max)
    throw new LiveFilterError(`filter.${field}`, `must have at most ${max} items`);
  return value.map((item, i) => {
    if (typeof item !== 'string' || (pattern !== undefined && !pattern.test(item))) {
      throw new LiveFilterError(`filter.${field}[${i}]`, 'is not a valid value');
    }
    return item;
  });
}

/** A filter ready to match: groups resolved to their devices at subscription time. */
export class LiveFilter {
  private readonly events: ReadonlyArray<(type: string) => boolean> | undefined;
  private readonly devices: ReadonlySet<string> | undefined;
  private readonly groups: ReadonlySet<string> | undefined;
  private readonly severities: ReadonlySet<string> | undefined;

  constructor(
    readonly spec: LiveFilterSpec,
    /** Devices of spec.groups (resolved by the stream); ignored without groups. */
    groupDevices: Iterable<string> = [],
  ) {
    this.events = spec.events?.map((p) =>
      p.endsWith('*') ? (t: string) => t.startsWith(p.slice(0, -1)) : (t: string) => t === p,
    );
    const scoped = spec.devices !== undefined || spec.groups !== undefined;
    this.devices = scoped ? new Set([...(spec.devices ?? []), ...groupDevices]) : undefined;
    this.groups = spec.groups === undefined ? undefined : new Set(spec.groups);
    if (spec.severities !== undefined) this.severities = new Set(spec.severities);
    else if (spec.minSeverity !== undefined) {
      this.severities = new Set(SEVERITIES.slice(0, SEVERITIES.indexOf(spec.minSeverity) + 1));
    }
  }

  matches(event: LiveEvent): boolean {
    if (this.events !== undefined && !this.events.some((match) => match(event.type))) return false;
    if (this.severities !== undefined && event.severity !== undefined) {
      if (!this.severities.has(event.severity)) return false;
    }
    if (this.devices !== undefined) {
      const devices = this.devices;
      const inDevices =
        (event.deviceKey !== undefined && devices.has(event.deviceKey)) ||
        (event.devices?.some((d) => devices.has(d)) ?? false);
      const inGroups = event.groups?.some((g) => this.groups?.has(g) ?? false) ?? false;
      if (!inDevices && !inGroups) return false;
    }
    return true;
  }
}
