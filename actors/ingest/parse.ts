/**
 * The ingestion parse step: topic + payload -> a validated TelemetryReading or a counted
 * refusal. Pure and synchronous; callable from the MQTT consumer and the HTTP ingest path.
 */
import { parseChirpStackUplink } from './chirpstack.ts';
import { parseTelemetryPayload } from './payload.ts';
import { isDeviceId, isTenantId, parseTopic, quote } from './topics.ts';
import { DEFAULT_LIMITS, type IngestLimits, type ParseResult } from './types.ts';

/**
 * Parses one MQTT telemetry message. Never throws.
 * - `{tenantId}/devices/{deviceId}/telemetry`: source `mqtt`, tenantId and deviceKey set.
 * - `application/{applicationId}/device/{devEui}/event/up`: source `chirpstack`, devEui and
 *   applicationId set, tenantId `''` (the device, and so its tenant, is resolved by DevEUI).
 */
export function parseTelemetry(
  topic: string,
  payload: Uint8Array,
  receivedAt: number,
  limits: IngestLimits = DEFAULT_LIMITS,
): ParseResult {
  const t = parseTopic(topic);
  if (!t.ok) return t;
  if (t.kind === 'gito') {
    const p = parseTelemetryPayload(payload, receivedAt, limits);
    if (!p.ok) return p;
    return {
      ok: true,
      reading: {
        tenantId: t.tenantId,
        deviceKey: t.deviceKey,
        ts: p.ts,
        metrics: p.metrics,
        source: 'mqtt',
      },
    };
  }
  const c = parseChirpStackUplink(t.devEui, payload, receivedAt, limits);
  if (!c.ok) return c;
  return {
    ok: true,
    reading: {
      tenantId: '',
      devEui: t.devEui,
      ts: c.ts,
      metrics: c.metrics,
      source: 'chirpstack',
      applicationId: t.applicationId,
      ...(c.deviceName === undefined ? {} : { deviceName: c.deviceName }),
    },
  };
}

/**
 * Parses a Gito telemetry payload addressed by ids rather than a topic (the HTTP ingest path,
 * where the tenant comes from the API key and the device from the URL). Invalid ids are
 * refused as `bad-topic`, the reason for a bad address whatever carried it.
 */
export function parseDeviceTelemetry(
  tenantId: string,
  deviceKey: string,
  payload: Uint8Array,
  receivedAt: number,
  limits: IngestLimits = DEFAULT_LIMITS,
  source: 'http' | 'mqtt' = 'http',
): ParseResult {
  if (!isTenantId(tenantId)) {
    return { ok: false, reason: 'bad-topic', detail: `tenant id ${quote(tenantId)} is not a slug` };
  }
  if (!isDeviceId(deviceKey)) {
    return {
      ok: false,
      reason: 'bad-topic',
      detail: `device id ${quote(deviceKey)} is not 1-128 of [A-Za-z0-9._-]`,
    };
  }
  const p = parseTelemetryPayload(payload, receivedAt, limits);
  if (!p.ok) return p;
  return { ok: true, reading: { tenantId, deviceKey, ts: p.ts, metrics: p.metrics, source } };
}
