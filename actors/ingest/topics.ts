/**
 * MQTT topic parsing for telemetry. Pure and allocation-light: this runs once per message.
 *
 * Two topic shapes are accepted (docs/ingestion.md, "Topics"):
 * - `{tenantId}/devices/{deviceId}/telemetry`, the Gito topic;
 * - `application/{applicationId}/device/{devEui}/event/up`, ChirpStack v4 uplinks.
 */

/** The telemetry subscription filters (without the `$share/{group}/` prefix). */
export const TELEMETRY_TOPICS = [
  '+/devices/+/telemetry',
  'application/+/device/+/event/up',
] as const;

/** `$share/{group}/{filter}`: an MQTT 5 (and Mosquitto 3.1.1) shared subscription. */
export function sharedSubscription(group: string, filter: string): string {
  if (group === '' || /[/+#]/.test(group)) {
    throw new Error(`share group '${group}' must be non-empty without '/', '+' or '#'`);
  }
  return `$share/${group}/${filter}`;
}

/** Tenant ids: the tenants table's own rule (db/migrations/0001_core.sql), so none is unreachable. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Device ids within a tenant: 1-128 of `A-Z a-z 0-9 . _ -`, but not `.` or `..`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** A DevEUI: 16 hex digits (either case in topics; normalised to lower case). */
export const DEV_EUI_PATTERN = /^[0-9A-Fa-f]{16}$/;
/** ChirpStack application ids are UUIDs; accept any id-like segment up to 128 characters. */
const APPLICATION_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export function isTenantId(s: string): boolean {
  return TENANT_ID_PATTERN.test(s);
}

/** `.` and `..` are refused: they would be unaddressable in URL paths (`/devices/..`). */
export function isDeviceId(s: string): boolean {
  return DEVICE_ID_PATTERN.test(s) && s !== '.' && s !== '..';
}

export function isDevEui(s: string): boolean {
  return DEV_EUI_PATTERN.test(s);
}

export type TopicResult =
  | {
      readonly ok: true;
      readonly kind: 'gito';
      readonly tenantId: string;
      readonly deviceKey: string;
    }
  | {
      readonly ok: true;
      readonly kind: 'chirpstack';
      readonly applicationId: string;
      /** Lower case. */
      readonly devEui: string;
    }
  | { readonly ok: false; readonly reason: 'bad-topic'; readonly detail: string };

/** Longest topic we look at; MQTT allows 65535 bytes, ours are far shorter. */
const MAX_TOPIC_LENGTH = 512;

/** Quotes untrusted text for a detail string, cut to `max` characters. */
export function quote(s: string, max = 64): string {
  return s.length <= max ? `'${s}'` : `'${s.slice(0, max)}…' (${s.length} chars)`;
}

function bad(detail: string): TopicResult {
  return { ok: false, reason: 'bad-topic', detail };
}

const GITO_SHAPE = '{tenantId}/devices/{deviceId}/telemetry';
const CHIRPSTACK_SHAPE = 'application/{applicationId}/device/{devEui}/event/up';

function literal(parts: readonly string[], index: number, want: string, shape: string) {
  const got = parts[index]!;
  return got === want
    ? undefined
    : `segment ${index + 1} ${quote(got)} should be '${want}' (${shape})`;
}

/**
 * Parses a telemetry topic. Never throws; a refusal names the offending segment (1-based).
 * Six segments starting with `application` are read as ChirpStack, four as Gito (so a tenant
 * may be called `application`).
 */
export function parseTopic(topic: string): TopicResult {
  if (topic.length > MAX_TOPIC_LENGTH) {
    return bad(`topic is ${topic.length} chars, limit ${MAX_TOPIC_LENGTH}`);
  }
  const parts = topic.split('/');
  if (parts.length === 4) {
    const wrong =
      literal(parts, 1, 'devices', GITO_SHAPE) ?? literal(parts, 3, 'telemetry', GITO_SHAPE);
    if (wrong !== undefined) return bad(wrong);
    const tenantId = parts[0]!;
    const deviceKey = parts[2]!;
    if (!TENANT_ID_PATTERN.test(tenantId)) {
      return bad(
        `segment 1 (tenant id) ${quote(tenantId)} is not a slug of [a-z0-9-] (1-63, first not '-')`,
      );
    }
    if (!isDeviceId(deviceKey)) {
      return bad(
        `segment 3 (device id) ${quote(deviceKey)} is not 1-128 of [A-Za-z0-9._-] (nor '.' or '..')`,
      );
    }
    return { ok: true, kind: 'gito', tenantId, deviceKey };
  }
  if (parts.length === 6 && parts[0] === 'application') {
    const wrong =
      literal(parts, 2, 'device', CHIRPSTACK_SHAPE) ??
      literal(parts, 4, 'event', CHIRPSTACK_SHAPE) ??
      literal(parts, 5, 'up', CHIRPSTACK_SHAPE);
    if (wrong !== undefined) return bad(wrong);
    const applicationId = parts[1]!;
    const devEui = parts[3]!;
    if (!APPLICATION_ID_PATTERN.test(applicationId)) {
      return bad(
        `segment 2 (application id) ${quote(applicationId)} is not 1-128 of [A-Za-z0-9._-]`,
      );
    }
    if (!DEV_EUI_PATTERN.test(devEui)) {
      return bad(`segment 4 (DevEUI) ${quote(devEui)} is not 16 hex digits`);
    }
    return { ok: true, kind: 'chirpstack', applicationId, devEui: devEui.toLowerCase() };
  }
  return bad(
    `${quote(topic, 128)} has ${parts.length} segments; expected ${GITO_SHAPE} or ${CHIRPSTACK_SHAPE}`,
  );
}
