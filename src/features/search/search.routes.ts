import { Elysia } from 'elysia';
import { isoNow } from '../../kernel/clock';
import type { FeatureDeps } from '../feature';
import { SearchPage, SearchQuery, toSearchHit } from './search.model';
import { searchEvents } from './searchEvents.query';

/**
 * `GET /api/search/events`: upcoming events (start after the request's now) matching `q`, best first,
 * ties by start time then id; an empty `q` lists them by date. Nothing is cached, so "upcoming" is
 * always checked at request time.
 */
export function searchRoutes({ store, clock }: Pick<FeatureDeps, 'store' | 'clock'>) {
  return new Elysia({ name: 'search', prefix: '/api/search' }).get(
    '/events',
    async ({ query }) => {
      const { hits, total } = await searchEvents(store, { q: query.q, now: isoNow(clock), page: query.page, size: query.size });
      return { events: hits.map(toSearchHit), total, page: query.page, size: query.size };
    },
    {
      query: SearchQuery,
      response: { 200: SearchPage },
      detail: {
        summary: 'Search upcoming events and shows: name ×4, venue location ×2, description and performers ×1; typo-tolerant, accent-insensitive',
        description: '`page` is 1-based (a page past the end is empty), `size` 1..100 (default 20). Errors: 400 VALIDATION_FAILED.',
        tags: ['search'],
      },
    },
  );
}
