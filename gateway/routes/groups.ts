import { Type } from '@sinclair/typebox';
import { isUniqueViolation } from '../../db/gateway/common.ts';
import { listDevices } from '../../db/gateway/devices.ts';
import {
  addGroupMembers,
  deleteGroup,
  getGroup,
  insertGroup,
  listGroups,
  removeGroupMember,
  updateGroup,
} from '../../db/gateway/groups.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { conflict, invalid, notFound } from '../http/problem.ts';
import {
  Id,
  IdParams,
  NoContent,
  Nullable,
  responses,
  SearchQuery,
  Timestamp,
} from '../http/schemas.ts';
import type { ApiResource } from './context.ts';
import { DeviceFilterQuery, deviceFilter } from './devices.ts';
import { announceProfileChanges } from './profile-changes.ts';
import { DeviceSchema } from './shapes.ts';

const GroupSchema = Type.Object({
  id: Id,
  name: Type.String(),
  description: Nullable(Type.String()),
  deviceCount: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const NewGroup = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  },
  { additionalProperties: false },
);

const GroupPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);

const MemberParams = Type.Object({ id: Id, deviceId: Id }, { additionalProperties: false });

const nameTaken = (name: string) =>
  conflict(`a group named ${JSON.stringify(name)} exists`, 'body.name');

export const groupsResource: ApiResource = {
  tag: 'groups',
  description: 'Device groups and their members',
  routes(app, ctx) {
    app.get(
      '/groups',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List device groups',
          querystring: Type.Object(
            {
              ...PageQuery,
              q: Type.Optional(SearchQuery),
              device: Type.Optional(Id),
            },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(GroupSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        return idPage(
          await listGroups(ctx.pool, authOf(request).tenantId, {
            q: q.q,
            deviceId: q.device,
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.get(
      '/groups/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a group',
          params: IdParams,
          response: responses({ 200: GroupSchema }),
        },
      },
      async (request) => {
        const group = await getGroup(ctx.pool, authOf(request).tenantId, request.params.id);
        if (group === undefined) throw notFound('group', request.params.id);
        return group;
      },
    );

    app.post(
      '/groups',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Create a group',
          body: NewGroup,
          response: responses({ 201: GroupSchema }),
        },
      },
      async (request, reply) => {
        const group = await insertGroup(ctx.pool, authOf(request).tenantId, request.body);
        if (group === undefined) throw nameTaken(request.body.name);
        request.audit = { resourceType: 'group', resourceId: group.id, after: group };
        return reply.code(201).send(group);
      },
    );

    app.patch(
      '/groups/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Rename or describe a group',
          params: IdParams,
          body: GroupPatch,
          response: responses({ 200: GroupSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await getGroup(ctx.pool, tenantId, request.params.id);
        if (before === undefined) throw notFound('group', request.params.id);
        const after = await updateGroup(ctx.pool, tenantId, request.params.id, request.body).catch(
          (err: unknown) => {
            if (isUniqueViolation(err)) throw nameTaken(request.body.name ?? '');
            throw err;
          },
        );
        if (after === undefined) throw notFound('group', request.params.id);
        request.audit = { resourceType: 'group', resourceId: after.id, before, after };
        return after;
      },
    );

    app.delete(
      '/groups/:id',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Delete a group (its devices stay)',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const before = await deleteGroup(ctx.pool, authOf(request).tenantId, request.params.id);
        if (before === undefined) throw notFound('group', request.params.id);
        request.audit = { resourceType: 'group', resourceId: before.id, before };
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/groups/:id/devices',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "List a group's devices (same filters as /devices)",
          params: IdParams,
          querystring: Type.Object(
            { ...PageQuery, ...DeviceFilterQuery },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(DeviceSchema) }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        if ((await getGroup(ctx.pool, tenantId, request.params.id)) === undefined) {
          throw notFound('group', request.params.id);
        }
        const q = request.query;
        return idPage(
          await listDevices(ctx.pool, tenantId, {
            ...deviceFilter(q),
            groupId: request.params.id,
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.post(
      '/groups/:id/devices',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Add devices to a group (all or none: unknown ids refuse the request)',
          params: IdParams,
          body: Type.Object(
            { deviceIds: Type.Array(Id, { minItems: 1, maxItems: 1_000 }) },
            { additionalProperties: false },
          ),
          response: responses({
            200: Type.Object({
              added: Type.Integer({ description: 'Devices that were not members yet' }),
            }),
          }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const result = await addGroupMembers(
          ctx.pool,
          tenantId,
          request.params.id,
          request.body.deviceIds,
        );
        if (result === undefined) throw notFound('group', request.params.id);
        if (result.unknown.length > 0) {
          const index = request.body.deviceIds.indexOf(result.unknown[0]!);
          throw invalid(`body.deviceIds[${index}]`, 'names no device of this tenant', 422);
        }
        request.audit = {
          action: 'group.devices.add',
          resourceType: 'group',
          resourceId: request.params.id,
          after: { deviceIds: request.body.deviceIds },
        };
        announceProfileChanges(ctx.pool, ctx.actors, tenantId, request.body.deviceIds);
        return { added: result.added };
      },
    );

    app.put(
      '/groups/:id/devices/:deviceId',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Add one device to a group',
          params: MemberParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const { id, deviceId } = request.params;
        const result = await addGroupMembers(ctx.pool, authOf(request).tenantId, id, [deviceId]);
        if (result === undefined) throw notFound('group', id);
        if (result.unknown.length > 0) throw notFound('device', deviceId);
        request.audit = {
          action: 'group.devices.add',
          resourceType: 'group',
          resourceId: id,
          after: { deviceIds: [deviceId] },
        };
        announceProfileChanges(ctx.pool, ctx.actors, authOf(request).tenantId, [deviceId]);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/groups/:id/devices/:deviceId',
      {
        config: { role: 'operator' },
        schema: {
          summary: 'Remove a device from a group',
          params: MemberParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const { id, deviceId } = request.params;
        if (!(await removeGroupMember(ctx.pool, authOf(request).tenantId, id, deviceId))) {
          throw notFound('group member', `${id}/${deviceId}`);
        }
        request.audit = {
          action: 'group.devices.remove',
          resourceType: 'group',
          resourceId: id,
          before: { deviceIds: [deviceId] },
        };
        announceProfileChanges(ctx.pool, ctx.actors, authOf(request).tenantId, [deviceId]);
        return reply.code(204).send(null);
      },
    );
  },
};
