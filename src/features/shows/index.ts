import { showMachine } from '../../../machines/show/show.machine';
import type { Feature } from '../feature';
import { showHandlers } from './shows.handlers';
import { showInventory } from './shows.inventory';
import { showsRoutes } from './shows.routes';

/** Shows: the catalogue of the compatibility API and the database-enforced seat inventory. */
export const showsFeature: Feature = {
  name: 'shows',
  kinds: [{ kind: 'show', machine: showMachine }],
  inline: [showInventory],
  routes: (deps) => showsRoutes(deps),
  handlers: (deps) => showHandlers(deps),
};
