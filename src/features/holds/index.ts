import { holdMachine } from '../../../machines/hold/hold.machine';
import type { Feature } from '../feature';
import { holdHandlers } from './holds.handlers';
import { holdInventory, type HoldLimits } from './holds.inventory';
import { holdsRoutes } from './holds.routes';

/**
 * Seat holds on catalogue events and general-admission shows: reserve, renew, release, durable expiry,
 * confirm with payment (recovered when the charging process dies).
 */
export function createHoldsFeature(limits: HoldLimits): Feature {
  return {
    name: 'holds',
    kinds: [{ kind: 'hold', machine: holdMachine }],
    inline: [holdInventory(limits)],
    routes: (deps) => holdsRoutes(deps),
    handlers: (deps) => holdHandlers(deps),
  };
}
