import type { Store } from '../../actors/ports';
import type { SearchRequest, SearchResult } from './searchEvents.projection';
import { searchPostgres } from './searchEvents.postgres';
import { searchSqlite } from './searchEvents.sqlite';

/**
 * Searches upcoming events of the searchEvents read model with the dialect's full-text index: best score
 * first, ties by start_time, then event_id. An empty query lists upcoming events by date.
 */
export function searchEvents(db: Store, request: SearchRequest): Promise<SearchResult> {
  return db.dialect === 'postgres' ? searchPostgres(db, request) : searchSqlite(db, request);
}
