import { Elysia } from 'elysia';
import { isoNow } from '../../kernel/clock';
import type { FeatureDeps } from '../feature';
import { SearchPage, SearchQuery, toSearchHit } from './search.model';
import { searchEventsProjection } from './searchEvents.projection';
import { searchEvents } from './searchEvents.query';
import { searchTermsProjection } from './searchTerms.projection';

/**
 * How long a search waits for the read model to catch up with the log before it answers from what is
 * there: far above the usual few milliseconds, short enough that a stalled runner does not stall search.
 */
const SETTLE_TIMEOUT_MS = 2_000;

/**
 * `GET /api/search/events`: upcoming events (start after the request's now) matching `q`, best first,
 * ties by start time then id; an empty `q` lists them by date. Nothing is cached, so "upcoming" is
 * always checked at request time. Read-your-writes: the read models (the events and their words) are first
 * settled up to the log head, so an event or show whose create was answered (by any instance) before the
 * search began is found, also by a typo.
 */
export function searchRoutes({ store, clock, projections }: Pick<FeatureDeps, 'store' | 'clock' | 'projections'>) {
  return new Elysia({ name: 'search', prefix: '/api/search' }).get(
    '/events',
    async ({ query }) => {
      await Promise.all([searchEventsProjection, searchTermsProjection].map(({ name }) => projections.settle(name, { timeoutMs: SETTLE_TIMEOUT_MS })));
      const { hits, total } = await searchEvents(store, { q: query.q, now: isoNow(clock), page: query.page, size: query.size });
      return { events: hits.map(toSearchHit), total, page: query.page, size: query.size };
    },
    {
      query: SearchQuery,
      response: { 200: SearchPage },
      detail: {
        summary: 'Search upcoming events and shows: name ×4, venue name and location ×2, description and performers ×1; typo-tolerant, accent-insensitive',
        description: '`page` is 1-based (a page past the end is empty), `size` 1..100 (default 20).',
        tags: ['search'],
      },
    },
  );
}
