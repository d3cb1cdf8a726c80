import { Type } from '@sinclair/typebox';
import { parseDeviceTelemetry } from '../../actors/ingest/parse.ts';
import { IngestRejectedError } from '../../actors/ingest/pipeline.ts';
import { DEFAULT_LIMITS } from '../../actors/ingest/types.ts';
import { TelemetryOutOfRangeError } from '../../db/telemetry/writer.ts';
import { authOf } from '../auth/hooks.ts';
import { forbidden, invalid, ProblemError } from '../http/problem.ts';
import { responses, Timestamp } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { DeviceKey } from './shapes.ts';

/** HTTP status of each ingest refusal reason (actors/ingest/types.ts BadInputReason). */
function refusal(reason: string, detail: string): ProblemError {
  const path = reason === 'unknown-device' || reason === 'bad-topic' ? 'query.device' : 'body';
  switch (reason) {
    case 'malformed-json':
      return new ProblemError(400, 'malformed-body', detail, [{ path, message: detail }]);
    case 'oversize':
      return new ProblemError(413, 'payload-too-large', detail, [{ path, message: detail }]);
    case 'unknown-device':
    case 'unknown-tenant':
      return new ProblemError(404, 'not-found', detail);
    case 'device-disabled':
      return new ProblemError(403, 'device-disabled', detail);
    case 'rate-limited':
      return new ProblemError(429, 'rate-limited', detail, undefined, { 'retry-after': '1' });
    default:
      return new ProblemError(422, `ingest-${reason}`, detail, [{ path, message: detail }]);
  }
}

const unavailable = (detail: string) =>
  new ProblemError(503, 'ingest-unavailable', detail, undefined, { 'retry-after': '5' });

/**
 * HTTP ingest for devices: the same parser, limits, device lookup, rate limit and storage as
 * MQTT (actors/ingest/pipeline.ts handleReading). The answer comes once the reading is stored
 * (committed), so a 200 means durable, like an MQTT QoS 1 acknowledgement.
 */
export const ingestResource: ApiResource = {
  tag: 'ingest',
  description: 'Telemetry over HTTP for devices (device keys)',
  async routes(app, ctx) {
    const maxBytes = ctx.deps.ingestMaxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes;
    // The body reaches the ingest parser as bytes (it measures, decodes and flattens itself, as
    // for MQTT); one byte over the limit still arrives so the parser reports `oversize`.
    app.addContentTypeParser(
      ['application/json', 'text/plain'],
      { parseAs: 'buffer', bodyLimit: maxBytes + 1 },
      (_request, body, done) => done(null, body),
    );

    app.post(
      '/ingest',
      {
        config: { role: 'device' },
        bodyLimit: maxBytes + 1,
        schema: {
          summary: 'Send one telemetry reading (the MQTT payload format)',
          description:
            'Body: a JSON object of metrics (nested objects are flattened with __), optionally ' +
            "with ts/timestamp/time (ISO or epoch). The device is the key's bound device, or " +
            '`device` for a fleet device key. 200 once the reading is stored.',
          querystring: Type.Object(
            { device: Type.Optional(DeviceKey) },
            { additionalProperties: false },
          ),
          // Documents the payload; the ingest parser validates it (same rules as MQTT).
          body: Type.Object(
            {},
            {
              additionalProperties: true,
              examples: [{ temperature: 21.5, humidity: 40, ts: '2026-01-01T12:00:00Z' }],
            },
          ),
          response: responses({
            200: Type.Object({
              stored: Type.Literal(true),
              device: Type.String(),
              ts: Timestamp,
              metrics: Type.Integer({ description: 'Metrics stored' }),
            }),
          }),
        },
      },
      async (request) => {
        const auth = authOf(request);
        const asked = request.query.device;
        if (auth.deviceKey !== undefined && asked !== undefined && asked !== auth.deviceKey) {
          throw forbidden(`this key writes only for device ${auth.deviceKey}`);
        }
        const deviceKey = auth.deviceKey ?? asked;
        if (deviceKey === undefined) {
          throw invalid('query.device', 'is required with a key not bound to a device');
        }
        const ingest = ctx.deps.ingest?.();
        if (ingest === undefined) throw unavailable('telemetry ingestion is not running here');
        // The content-type parser above hands the raw bytes over; the schema only documents them.
        const payload = request.body as unknown as Buffer;
        const receivedAt = ctx.now();
        const parsed = parseDeviceTelemetry(
          auth.tenantId,
          deviceKey,
          payload,
          receivedAt,
          ingest.limits,
          'http',
        );
        if (!parsed.ok) {
          ingest.counter.reject(parsed.reason);
          throw refusal(parsed.reason, parsed.detail);
        }
        try {
          await ingest.pipeline.handleReading(parsed.reading, receivedAt);
        } catch (err) {
          if (err instanceof IngestRejectedError) throw refusal(err.reason, err.detail);
          if (err instanceof TelemetryOutOfRangeError) throw refusal('bad-timestamp', err.message);
          request.log.warn({ err: String(err) }, 'HTTP reading not stored');
          throw unavailable('the reading could not be stored; retry later');
        }
        return {
          stored: true as const,
          device: deviceKey,
          ts: new Date(parsed.reading.ts).toISOString(),
          metrics: Object.keys(parsed.reading.metrics).length,
        };
      },
    );
  },
};
