import { catalogueEventMachine, performerMachine, venueMachine } from '../../../machines/catalogue/catalogue.machine';
import type { Feature } from '../feature';
import { catalogueTables } from './catalogue.inventory';
import { catalogueRoutes } from './catalogue.routes';

/** The catalogue: venues, performers and events with numbered seats (shows are read as general admission). */
export const catalogueFeature: Feature = {
  name: 'catalogue',
  kinds: [
    { kind: 'venue', machine: venueMachine },
    { kind: 'performer', machine: performerMachine },
    { kind: 'event', machine: catalogueEventMachine },
  ],
  inline: [catalogueTables],
  routes: (deps) => catalogueRoutes(deps),
};
