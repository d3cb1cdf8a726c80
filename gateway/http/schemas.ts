/** Schemas every route shares: ids, times, problems, the standard error responses. */
import { type TSchema, Type } from '@sinclair/typebox';

/** Ids of database rows travel as strings of digits (bigint identities). */
export const Id = Type.String({ pattern: '^[0-9]{1,18}$', description: 'Numeric id, as a string' });

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 time' });

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** Free-text search filter: case-insensitive substring. */
export const SearchQuery = Type.String({ minLength: 1, maxLength: 200 });

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'urn:gito:problem:<slug>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'e.g. body.name, query.limit, params.id' }),
          message: Type.String(),
        }),
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
);

const ProblemRef = Type.Ref(ProblemSchema);

/**
 * Responses of a route: the success schemas given plus problem documents for the client and
 * server errors any route can answer (400 validation, 401, 403, 404, 409, 429, 5xx).
 */
export function responses<R extends Record<number, TSchema>>(success: R) {
  return {
    ...success,
    '4xx': { ...ProblemRef, description: 'Problem details (RFC 9457)' },
    '5xx': { ...ProblemRef, description: 'Problem details (RFC 9457)' },
  };
}

/** A 204 without a body. */
export const NoContent = Type.Null({ description: 'No content' });
