import { z } from 'zod';
import { successResponse, type JsonSchema } from './openapiProblems';
import { requestTarget } from './requestContext';
import { QueryWholeNumber, Uuid } from './schemas';

/**
 * Keyset paging for lists: a cursor is the base64url JSON array of the list's name and the sort key of
 * the last item of the previous page, and the next page is announced as `Link: <…?cursor=…>; rel="next"`
 * (API.md). The name makes a cursor of one list refused by another whose key has the same shape.
 */
export function encodeCursor(cursor: ListCursor, key: readonly string[]): string {
  return Buffer.from(JSON.stringify([cursor.list, ...key])).toString('base64url');
}

/** The sort key a cursor holds, or undefined when it is not one this list handed out. */
export function decodeCursor(text: string, cursor: ListCursor): string[] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== cursor.parts.length + 1 || value[0] !== cursor.list) return undefined;
    const key = value.slice(1);
    if (key.every((v, i) => typeof v === 'string' && cursor.parts[i]!.safeParse(v).success)) return key as string[];
  } catch {
    // Not JSON: the caller reports it like any other cursor this service did not hand out.
  }
  return undefined;
}

/** One element of a list's sort key, checked when a cursor comes back (a tampered one is 400, not a silent empty page). */
export type CursorPart = z.ZodType<string>;
/** A time the service wrote: RFC 3339 UTC with `Z`. */
export const CURSOR_TIME: CursorPart = z.iso.datetime();
/** An id the service handed out. */
export const CURSOR_UUID: CursorPart = Uuid;
/** An actor's address, `<kind>/<id>`. */
export const CURSOR_ADDRESS: CursorPart = z.string().regex(/^[A-Za-z][A-Za-z0-9]*\/[^/]+$/);

/** The cursors of one list: its name and the parts of its sort key. */
export interface ListCursor {
  readonly list: string;
  readonly parts: readonly CursorPart[];
}
export const listCursor = (list: string, ...parts: CursorPart[]): ListCursor => ({ list, parts });

/** A zod field for `?cursor=` that decodes to a sort key of this list (400 when it is not one). */
export const cursorParam = (cursor: ListCursor) =>
  z.string().min(1).transform((text, ctx) => {
    const key = decodeCursor(text, cursor);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: 'not a cursor of this list' });
      return z.NEVER;
    }
    return key;
  });

/** `?limit=` of the compatibility lists: 1..100, absent means everything. */
export const optionalLimitParam = QueryWholeNumber(1, 100).optional();

/** `?limit=` of the other lists: 1..100, default 50. */
export const limitParam = QueryWholeNumber(1, 100).default(50);

/** The `Link` header value for the page after `lastKey`, on the request's own URL. */
export function nextLink(requestUrl: string, cursor: ListCursor, lastKey: readonly string[]): string {
  const next = requestTarget(requestUrl);
  next.searchParams.set('cursor', encodeCursor(cursor, lastKey));
  return `<${next.pathname}${next.search}>; rel="next"`;
}

/**
 * One page of a keyset list. Queries fetch `limit + 1` rows; when the extra row came back it is dropped
 * and the `Link` header of the next page (after the last kept row's key) is returned with the page.
 */
export function pageOf<T>(
  rows: T[],
  limit: number | undefined,
  requestUrl: string,
  cursor: ListCursor,
  keyOf: (row: T) => readonly string[],
): { items: T[]; link?: string } {
  if (limit === undefined || rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, link: nextLink(requestUrl, cursor, keyOf(items[items.length - 1]!)) };
}

/** The OpenAPI success response of a paged list: the page, and the `Link` header to the next one. */
export const pageResponse = (options: { contentType?: string; schema?: JsonSchema } = {}) =>
  successResponse(200, 'One page; `Link: <…>; rel="next"` when there is a next one', { headers: ['Link'], ...options });
