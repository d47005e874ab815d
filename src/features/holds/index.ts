import { holdMachine } from '../../../machines/hold/hold.machine';
import type { Feature } from '../feature';
import { holdHandlers } from './holds.handlers';
import { holdInventory } from './holds.inventory';
import { holdsRoutes } from './holds.routes';

/** Seat holds on catalogue events: reserve, renew, release, durable expiry, confirm with payment. */
export const holdsFeature: Feature = {
  name: 'holds',
  kinds: [{ kind: 'hold', machine: holdMachine }],
  inline: [holdInventory],
  routes: (deps) => holdsRoutes(deps),
  handlers: (deps) => holdHandlers(deps),
};
