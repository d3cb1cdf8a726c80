import { Type } from '@sinclair/typebox';
import { deviceStatus } from '../../actors/device/index.ts';
import type { DeviceStatus } from '../../actors/device/types.ts';
import { type Device, getDevice, listDevices } from '../../db/gateway/devices.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, encodeCursor, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { notFound } from '../http/problem.ts';
import { Id, IdParams, Nullable, responses, Timestamp } from '../http/schemas.ts';
import type { ApiContext, ApiResource } from './context.ts';
import { DeviceFilterQuery, deviceFilter } from './devices.ts';

const MetricValue = Type.Union([Type.Number(), Type.String(), Type.Boolean()]);

const LiveStatus = Type.Object({
  deviceId: Id,
  key: Type.String(),
  name: Nullable(Type.String()),
  live: Type.Boolean({
    description:
      'true: answered by the device actor now; false: it did not answer in time, and the ' +
      'fields are the last stored snapshot (metrics empty)',
  }),
  online: Type.Boolean(),
  lastSeen: Nullable(Timestamp),
  metrics: Type.Record(Type.String(), Type.Object({ value: MetricValue, ts: Timestamp }), {
    description: 'Last value and time per metric',
  }),
  battery: Nullable(Type.Number()),
  rssi: Nullable(Type.Number()),
  snr: Nullable(Type.Number()),
  firmware: Nullable(Type.String()),
  messages: Nullable(Type.Integer({ description: 'Messages since the actor last activated' })),
});

type LiveStatusValue = {
  deviceId: string;
  key: string;
  name: string | null;
  live: boolean;
  online: boolean;
  lastSeen: string | null;
  metrics: Record<string, { value: number | string | boolean; ts: string }>;
  battery: number | null;
  rssi: number | null;
  snr: number | null;
  firmware: string | null;
  messages: number | null;
};

/** How long a status read reuses the device row it looked up. */
const DEVICE_ROW_TTL_MS = 2_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function fromActor(device: Device, s: DeviceStatus): LiveStatusValue {
  const metrics: LiveStatusValue['metrics'] = {};
  for (const [name, reading] of Object.entries(s.metrics)) {
    metrics[name] = { value: reading.value, ts: new Date(reading.ts).toISOString() };
  }
  return {
    deviceId: device.id,
    key: device.key,
    name: device.name,
    live: true,
    online: s.online,
    lastSeen: iso(s.lastSeen),
    metrics,
    battery: s.battery,
    rssi: s.rssi,
    snr: s.snr,
    firmware: s.firmware,
    messages: s.messages,
  };
}

/** The stored snapshot, when the actor did not answer (overloaded node, moving identity). */
function fromSnapshot(device: Device): LiveStatusValue {
  return {
    deviceId: device.id,
    key: device.key,
    name: device.name,
    live: false,
    online: device.status === 'online',
    lastSeen: device.lastSeen,
    metrics: {},
    battery: device.battery,
    rssi: null,
    snr: null,
    firmware: device.firmware,
    messages: null,
  };
}

async function statusOf(
  ctx: ApiContext,
  tenantId: string,
  device: Device,
  log: (e: unknown) => void,
) {
  try {
    const s = await deviceStatus(ctx.actors, tenantId, device.key, {
      timeoutMs: ctx.deps.statusTimeoutMs ?? 2_000,
    });
    return fromActor(device, s);
  } catch (err) {
    log(err);
    return fromSnapshot(device);
  }
}

/**
 * Live device status, read from the device actors (the actor is the cache: no database read
 * for the values). The device is first looked up in the caller's tenant, so an actor is only
 * ever asked about a device that exists there.
 */
export const deviceStatusResource: ApiResource = {
  tag: 'device-status',
  description: 'Live device status from the device actors: one device, or a fleet page',
  routes(app, ctx) {
    // Status reads are the dashboard's hottest path; the device row they need (key, name and
    // the snapshot to fall back on) changes rarely, so it is reused for a moment instead of
    // costing a query per read. A renamed or deleted device shows within DEVICE_ROW_TTL_MS.
    const rows = new Map<string, { at: number; device: Device }>();
    const deviceRow = async (tenantId: string, id: string): Promise<Device | undefined> => {
      const k = `${tenantId}\u0000${id}`;
      const now = Date.now();
      const hit = rows.get(k);
      if (hit !== undefined && now - hit.at < DEVICE_ROW_TTL_MS) return hit.device;
      const device = await getDevice(ctx.pool, tenantId, id);
      if (rows.size >= 100_000) rows.clear();
      if (device === undefined) rows.delete(k);
      else rows.set(k, { at: now, device });
      return device;
    };

    app.get(
      '/devices/:id/status',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "A device's live status",
          params: IdParams,
          response: responses({ 200: LiveStatus }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const device = await deviceRow(tenantId, request.params.id);
        if (device === undefined) throw notFound('device', request.params.id);
        return statusOf(ctx, tenantId, device, (err) =>
          request.log.warn({ err: String(err), device: device.key }, 'device status read failed'),
        );
      },
    );

    app.get(
      '/devices/status',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Live status of a page of devices (same filters as /devices)',
          querystring: Type.Object(
            { ...PageQuery, ...DeviceFilterQuery },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(LiveStatus) }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const q = request.query;
        const page = await listDevices(ctx.pool, tenantId, {
          ...deviceFilter(q),
          afterId: afterId(q),
          limit: pageSize(q),
        });
        let failures = 0;
        const items = await Promise.all(
          page.items.map((device) =>
            statusOf(ctx, tenantId, device, () => {
              failures++;
            }),
          ),
        );
        if (failures > 0) request.log.warn({ failures }, 'some device status reads failed');
        const last = page.items[page.items.length - 1];
        return {
          items,
          nextCursor: page.more && last !== undefined ? encodeCursor({ after: last.id }) : null,
        };
      },
    );
  },
};
