import { Type } from '@sinclair/typebox';
import { isUniqueViolation } from '../../db/gateway/common.ts';
import {
  type DeviceFilter,
  deleteDevice,
  editDeviceTags,
  getDevice,
  insertDevices,
  listDevices,
  listDeviceTags,
  updateDevice,
} from '../../db/gateway/devices.ts';
import { authOf } from '../auth/hooks.ts';
import {
  afterId,
  decodeCursor,
  encodeCursor,
  idPage,
  Page,
  PageQuery,
  pageSize,
} from '../http/pagination.ts';
import { conflict, notFound } from '../http/problem.ts';
import { Id, IdParams, NoContent, Nullable, responses, SearchQuery } from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { announceProfileChanges } from './profile-changes.ts';
import { Connectivity, DeviceKey, DeviceSchema, Tag, Tags } from './shapes.ts';

const DevEui = Type.String({ pattern: '^[0-9A-Fa-f]{16}$', description: 'LoRaWAN DevEUI' });
const Attributes = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  description: 'Free-form JSON object',
});

/** The device filters, shared by the device list and the fleet status page. */
export const DeviceFilterQuery = {
  key: Type.Optional(DeviceKey),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  tag: Type.Optional(
    Type.Array(Tag, { maxItems: 20, description: 'Repeat for devices carrying every tag' }),
  ),
  status: Type.Optional(Connectivity),
  enabled: Type.Optional(Type.Boolean()),
  group: Type.Optional(Id),
  q: Type.Optional(SearchQuery),
};

export function deviceFilter(q: {
  key?: string;
  type?: string;
  tag?: string[];
  status?: DeviceFilter['status'];
  enabled?: boolean;
  group?: string;
  q?: string;
}): DeviceFilter {
  return {
    key: q.key,
    type: q.type,
    tags: q.tag,
    status: q.status,
    enabled: q.enabled,
    groupId: q.group,
    q: q.q,
  };
}

const DeviceFields = {
  name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  type: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 128 }))),
  tags: Type.Optional(Tags),
  attributes: Type.Optional(Attributes),
  enabled: Type.Optional(Type.Boolean()),
  devEui: Type.Optional(Nullable(DevEui)),
};

const NewDevice = Type.Object({ key: DeviceKey, ...DeviceFields }, { additionalProperties: false });

const DevicePatch = Type.Object(DeviceFields, {
  additionalProperties: false,
  minProperties: 1,
  description: "Fields to change; the key never changes (it is the device's identity)",
});

export const MAX_BULK_DEVICES = 1_000;

const BulkBody = Type.Object(
  { devices: Type.Array(NewDevice, { minItems: 1, maxItems: MAX_BULK_DEVICES }) },
  { additionalProperties: false },
);

const TagEdit = Type.Object(
  {
    add: Type.Optional(Tags),
    remove: Type.Optional(Tags),
  },
  { additionalProperties: false, minProperties: 1 },
);

function uniqueProblem(err: unknown, key: string): never {
  if (isUniqueViolation(err, 'devices_dev_eui_key')) {
    throw conflict('the DevEUI belongs to another device', 'body.devEui');
  }
  if (isUniqueViolation(err)) throw conflict(`a device with key ${key} exists`, 'body.key');
  throw err;
}

export const devicesResource: ApiResource = {
  tag: 'devices',
  description: 'Devices: registration (one or in bulk), metadata, tags',
  routes(app, ctx) {
    app.get(
      '/devices',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List devices (filters combine with AND)',
          querystring: Type.Object(
            { ...PageQuery, ...DeviceFilterQuery },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(DeviceSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        return idPage(
          await listDevices(ctx.pool, authOf(request).tenantId, {
            ...deviceFilter(q),
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.get(
      '/devices/tags',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Tags in use, with the number of devices carrying each',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: responses({
            200: Page(Type.Object({ tag: Type.String(), devices: Type.Integer() })),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        const after =
          q.cursor === undefined
            ? undefined
            : decodeCursor(
                q.cursor,
                (v): v is { tag: string } =>
                  typeof v === 'object' &&
                  v !== null &&
                  typeof (v as { tag?: unknown }).tag === 'string',
              ).tag;
        const page = await listDeviceTags(ctx.pool, authOf(request).tenantId, {
          after,
          limit: pageSize(q),
        });
        const last = page.items[page.items.length - 1];
        return {
          items: page.items,
          nextCursor: page.more && last !== undefined ? encodeCursor({ tag: last.tag }) : null,
        };
      },
    );

    app.get(
      '/devices/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a device (status fields: last stored snapshot; live status: /status)',
          params: IdParams,
          response: responses({ 200: DeviceSchema }),
        },
      },
      async (request) => {
        const device = await getDevice(ctx.pool, authOf(request).tenantId, request.params.id);
        if (device === undefined) throw notFound('device', request.params.id);
        return device;
      },
    );

    app.post(
      '/devices',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Register a device',
          body: NewDevice,
          response: responses({ 201: DeviceSchema }),
        },
      },
      async (request, reply) => {
        const result = await insertDevices(ctx.pool, authOf(request).tenantId, [
          request.body,
        ]).catch((err: unknown) => uniqueProblem(err, request.body.key));
        const device = result.created[0];
        if (device === undefined)
          throw conflict(`a device with key ${request.body.key} exists`, 'body.key');
        request.audit = { resourceType: 'device', resourceId: device.id, after: device };
        return reply.code(201).send(device);
      },
    );

    app.post(
      '/devices/bulk',
      {
        config: { role: 'operator' },
        schema: {
          summary: `Register up to ${MAX_BULK_DEVICES} devices; existing keys are left as they are`,
          body: BulkBody,
          response: responses({
            200: Type.Object({
              created: Type.Array(DeviceSchema),
              existing: Type.Array(Type.String(), { description: 'Keys that already existed' }),
            }),
          }),
        },
      },
      async (request) => {
        const keys = new Set<string>();
        request.body.devices.forEach((d, i) => {
          if (keys.has(d.key)) {
            throw conflict(`key ${d.key} appears twice`, `body.devices[${i}].key`);
          }
          keys.add(d.key);
        });
        const result = await insertDevices(
          ctx.pool,
          authOf(request).tenantId,
          request.body.devices,
        ).catch((err: unknown) => {
          if (isUniqueViolation(err, 'devices_dev_eui_key')) {
            throw conflict('a DevEUI belongs to another device', 'body.devices');
          }
          throw err;
        });
        request.audit = {
          action: 'device.bulk_create',
          resourceType: 'device',
          after: { created: result.created.map((d) => d.key), existing: result.existing },
        };
        return result;
      },
    );

    app.patch(
      '/devices/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Update a device',
          params: IdParams,
          body: DevicePatch,
          response: responses({ 200: DeviceSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await getDevice(ctx.pool, tenantId, request.params.id);
        if (before === undefined) throw notFound('device', request.params.id);
        const after = await updateDevice(ctx.pool, tenantId, request.params.id, request.body).catch(
          (err: unknown) => uniqueProblem(err, before.key),
        );
        if (after === undefined) throw notFound('device', request.params.id);
        request.audit = { resourceType: 'device', resourceId: after.id, before, after };
        announceProfileChanges(ctx.pool, ctx.actors, tenantId, [after.id]);
        return after;
      },
    );

    app.post(
      '/devices/:id/tags',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Add and remove tags (removal wins when a tag is in both)',
          params: IdParams,
          body: TagEdit,
          response: responses({ 200: DeviceSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await getDevice(ctx.pool, tenantId, request.params.id);
        if (before === undefined) throw notFound('device', request.params.id);
        const after = await editDeviceTags(
          ctx.pool,
          tenantId,
          request.params.id,
          request.body.add ?? [],
          request.body.remove ?? [],
        );
        if (after === undefined) throw notFound('device', request.params.id);
        request.audit = {
          action: 'device.tags',
          resourceType: 'device',
          resourceId: after.id,
          before: { tags: before.tags },
          after: { tags: after.tags },
        };
        announceProfileChanges(ctx.pool, ctx.actors, tenantId, [after.id]);
        return after;
      },
    );

    app.delete(
      '/devices/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Delete a device (its stored telemetry stays until retention removes it)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const before = await deleteDevice(ctx.pool, authOf(request).tenantId, request.params.id);
        if (before === undefined) throw notFound('device', request.params.id);
        request.audit = { resourceType: 'device', resourceId: before.id, before };
        return reply.code(204).send(null);
      },
    );
  },
};
