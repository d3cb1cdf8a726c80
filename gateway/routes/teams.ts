import { Type } from '@sinclair/typebox';
import { isUniqueViolation } from '../../db/gateway/common.ts';
import {
  deleteTeam,
  getTeam,
  insertTeam,
  listTeamMembers,
  listTeams,
  putTeamMember,
  removeTeamMember,
  updateTeam,
} from '../../db/gateway/teams.ts';
import { getUser } from '../../db/gateway/users.ts';
import { authOf } from '../auth/hooks.ts';
import { afterId, encodeCursor, idPage, Page, PageQuery, pageSize } from '../http/pagination.ts';
import { conflict, notFound } from '../http/problem.ts';
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

const TeamSchema = Type.Object({
  id: Id,
  name: Type.String(),
  description: Nullable(Type.String()),
  memberCount: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const MemberRole = Type.Union([Type.Literal('member'), Type.Literal('lead')]);

const MemberSchema = Type.Object({
  userId: Id,
  email: Type.String(),
  displayName: Nullable(Type.String()),
  role: MemberRole,
  addedAt: Timestamp,
});

const NewTeam = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  },
  { additionalProperties: false },
);

const TeamPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);

const MemberParams = Type.Object({ id: Id, userId: Id }, { additionalProperties: false });

const nameTaken = (name: string) =>
  conflict(`a team named ${JSON.stringify(name)} exists`, 'body.name');

export const teamsResource: ApiResource = {
  tag: 'teams',
  description: 'Teams of users (escalation policies and notifications address them)',
  routes(app, ctx) {
    app.get(
      '/teams',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'List teams',
          querystring: Type.Object(
            { ...PageQuery, q: Type.Optional(SearchQuery) },
            { additionalProperties: false },
          ),
          response: responses({ 200: Page(TeamSchema) }),
        },
      },
      async (request) => {
        const q = request.query;
        return idPage(
          await listTeams(ctx.pool, authOf(request).tenantId, {
            q: q.q,
            afterId: afterId(q),
            limit: pageSize(q),
          }),
        );
      },
    );

    app.get(
      '/teams/:id',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Read a team',
          params: IdParams,
          response: responses({ 200: TeamSchema }),
        },
      },
      async (request) => {
        const team = await getTeam(ctx.pool, authOf(request).tenantId, request.params.id);
        if (team === undefined) throw notFound('team', request.params.id);
        return team;
      },
    );

    app.post(
      '/teams',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Create a team',
          body: NewTeam,
          response: responses({ 201: TeamSchema }),
        },
      },
      async (request, reply) => {
        const team = await insertTeam(ctx.pool, authOf(request).tenantId, request.body);
        if (team === undefined) throw nameTaken(request.body.name);
        request.audit = { resourceType: 'team', resourceId: team.id, after: team };
        return reply.code(201).send(team);
      },
    );

    app.patch(
      '/teams/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Rename or describe a team',
          params: IdParams,
          body: TeamPatch,
          response: responses({ 200: TeamSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const before = await getTeam(ctx.pool, tenantId, request.params.id);
        if (before === undefined) throw notFound('team', request.params.id);
        const after = await updateTeam(ctx.pool, tenantId, request.params.id, request.body).catch(
          (err: unknown) => {
            if (isUniqueViolation(err)) throw nameTaken(request.body.name ?? '');
            throw err;
          },
        );
        if (after === undefined) throw notFound('team', request.params.id);
        request.audit = { resourceType: 'team', resourceId: after.id, before, after };
        return after;
      },
    );

    app.delete(
      '/teams/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Delete a team',
          params: IdParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const before = await deleteTeam(ctx.pool, authOf(request).tenantId, request.params.id);
        if (before === undefined) throw notFound('team', request.params.id);
        request.audit = { resourceType: 'team', resourceId: before.id, before };
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/teams/:id/members',
      {
        config: { role: 'viewer' },
        schema: {
          summary: "List a team's members",
          params: IdParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: responses({ 200: Page(MemberSchema) }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        if ((await getTeam(ctx.pool, tenantId, request.params.id)) === undefined) {
          throw notFound('team', request.params.id);
        }
        const page = await listTeamMembers(ctx.pool, tenantId, request.params.id, {
          afterId: afterId(request.query),
          limit: pageSize(request.query),
        });
        const last = page.items[page.items.length - 1];
        return {
          items: page.items,
          nextCursor: page.more && last !== undefined ? encodeCursor({ after: last.userId }) : null,
        };
      },
    );

    app.put(
      '/teams/:id/members/:userId',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Add a user to a team, or change their role in it',
          params: MemberParams,
          body: Type.Object(
            { role: Type.Optional(MemberRole) },
            { additionalProperties: false, description: 'Send {} for a plain member' },
          ),
          response: responses({ 200: MemberSchema }),
        },
      },
      async (request) => {
        const tenantId = authOf(request).tenantId;
        const { id, userId } = request.params;
        if ((await getTeam(ctx.pool, tenantId, id)) === undefined) throw notFound('team', id);
        if ((await getUser(ctx.pool, tenantId, userId)) === undefined)
          throw notFound('user', userId);
        const member = await putTeamMember(
          ctx.pool,
          tenantId,
          id,
          userId,
          request.body.role ?? 'member',
        );
        if (member === undefined) throw notFound('team', id);
        request.audit = {
          action: 'team.member.put',
          resourceType: 'team',
          resourceId: id,
          after: member,
        };
        return member;
      },
    );

    app.delete(
      '/teams/:id/members/:userId',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Remove a user from a team',
          params: MemberParams,
          response: responses({ 204: NoContent }),
        },
      },
      async (request, reply) => {
        const tenantId = authOf(request).tenantId;
        const { id, userId } = request.params;
        if (!(await removeTeamMember(ctx.pool, tenantId, id, userId))) {
          throw notFound('team member', `${id}/${userId}`);
        }
        request.audit = {
          action: 'team.member.remove',
          resourceType: 'team',
          resourceId: id,
          before: { userId },
        };
        return reply.code(204).send(null);
      },
    );
  },
};
