import { z } from 'zod';
import { QueryWholeNumber } from '../../http/schemas';
import type { SearchHitRow } from './searchEvents.projection';

/** `GET /api/search/events` query: `q` (may be empty), `page` 1-based (default 1), `size` 1..100 (default 20). */
export const SearchQuery = z.object({
  q: z.string().max(200).default(''),
  page: QueryWholeNumber(1, 1_000_000).default(1),
  size: QueryWholeNumber(1, 100).default(20),
});

/** One hit as the API shows it. */
export const SearchHit = z.object({
  event_id: z.string(),
  name: z.string(),
  description: z.string(),
  start_time: z.string(),
  venue: z.object({ name: z.string(), location: z.string() }),
  performers: z.array(z.object({ performer_id: z.string(), name: z.string() })),
  score: z.number(),
});
export type SearchHit = z.infer<typeof SearchHit>;

/** The search envelope: one page of hits, the exact number of matches, the page and its size. */
export const SearchPage = z.object({ events: z.array(SearchHit), total: z.number().int(), page: z.number().int(), size: z.number().int() });

/** The API form of a search hit. */
export function toSearchHit(row: SearchHitRow): SearchHit {
  return {
    event_id: row.event_id,
    name: row.name,
    description: row.description,
    start_time: row.start_time,
    venue: { name: row.venue_name, location: row.venue_location },
    performers: row.performers,
    score: row.score,
  };
}
