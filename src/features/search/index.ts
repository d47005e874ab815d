import type { Feature } from '../feature';
import { searchRoutes } from './search.routes';
import { searchEventsProjection } from './searchEvents.projection';
import { searchTermsProjection } from './searchTerms.projection';

/** Event search: read models of shows and events and of their words, fed by their creation facts, and its route. */
export const searchFeature: Feature = {
  name: 'search',
  projections: [searchEventsProjection, searchTermsProjection],
  routes: (deps) => searchRoutes(deps),
};
