import type { Feature } from '../feature';
import { searchRoutes } from './search.routes';
import { searchEventsProjection } from './searchEvents.projection';

/** Event search: a read model of shows and events fed by their creation facts, and its route. */
export const searchFeature: Feature = {
  name: 'search',
  projections: [searchEventsProjection],
  routes: (deps) => searchRoutes(deps),
};
