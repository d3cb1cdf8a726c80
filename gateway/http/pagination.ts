/**
 * Cursor pagination, the same on every list: `?limit=&cursor=` in, `{items, nextCursor}` out.
 * A cursor is opaque to clients (base64url JSON of the position after the last item); it is
 * valid only with the same filters, and `nextCursor` is null on the last page.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { invalid } from './problem.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_PAGE_SIZE,
      default: DEFAULT_PAGE_SIZE,
      description: `Items per page (1-${MAX_PAGE_SIZE})`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'nextCursor of the previous page',
    }),
  ),
};

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `cursor` for the next page; null on the last page',
    }),
  });
}

export type PageOf<T> = { items: T[]; nextCursor: string | null };

export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Decodes a cursor, checking its shape; a bad one is a 400 naming `query.cursor`. */
export function decodeCursor<T>(cursor: string, isValid: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid('query.cursor', 'is not a cursor this API issued');
  }
  if (!isValid(value)) throw invalid('query.cursor', 'is not a cursor this API issued');
  return value;
}

/** The common case: lists ordered by a bigint id; the cursor holds the last id. */
export type IdCursor = { after: string };

const isIdCursor = (v: unknown): v is IdCursor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as IdCursor).after === 'string' &&
  /^[0-9]{1,19}$/.test((v as IdCursor).after);

export function afterId(query: { cursor?: string | undefined }): string | undefined {
  return query.cursor === undefined ? undefined : decodeCursor(query.cursor, isIdCursor).after;
}

/** A page of an id-ordered list from a slice read with limit + 1. */
export function idPage<T extends { id: string }>(slice: { items: T[]; more: boolean }): PageOf<T> {
  const last = slice.items[slice.items.length - 1];
  return {
    items: slice.items,
    nextCursor: slice.more && last !== undefined ? encodeCursor({ after: last.id }) : null,
  };
}

export function pageSize(query: { limit?: number | undefined }): number {
  return query.limit ?? DEFAULT_PAGE_SIZE;
}
