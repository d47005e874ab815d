import type { Store } from '../../actors/ports';
import { SEARCH_COLUMNS, toHit, wordsOf, type SearchRequest, type SearchResult } from './searchEvents.projection';
import { searchPostgres } from './searchEvents.postgres';
import { searchSqlite } from './searchEvents.sqlite';

/**
 * Searches upcoming events of the searchEvents read model with the dialect's full-text index: best score
 * first, ties by start_time, then event_id. An empty query lists upcoming events by date (plain SQL,
 * the same in both dialects); a query of only punctuation finds nothing.
 */
export async function searchEvents(db: Store, request: SearchRequest): Promise<SearchResult> {
  if (request.q.trim() === '') return listUpcoming(db, request);
  const words = wordsOf(request.q);
  if (words.length === 0) return { hits: [], total: 0 };
  return db.dialect === 'postgres' ? searchPostgres(db, words, request) : searchSqlite(db, words, request);
}

async function listUpcoming(db: Store, { now, page, size }: SearchRequest): Promise<SearchResult> {
  const rows = await db.query(
    `SELECT ${SEARCH_COLUMNS}, 0 AS score FROM search_events e WHERE e.start_time > $1 ORDER BY e.start_time, e.event_id LIMIT $2 OFFSET $3`,
    [now, size, (page - 1) * size],
  );
  const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM search_events WHERE start_time > $1', [now]);
  return { hits: rows.map(toHit), total: Number(count?.n ?? 0) };
}
