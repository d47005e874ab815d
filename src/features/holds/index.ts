import { holdMachine } from '../../../machines/hold/hold.machine';
import type { Feature } from '../feature';
import { holdHandlers } from './holds.handlers';
import { holdInventory, type HoldLimits } from './holds.inventory';
import { holdsRoutes, type HoldsRoutesOptions } from './holds.routes';

/**
 * Seat holds on catalogue events and general-admission shows: reserve, renew, release, durable expiry,
 * confirm with payment (recovered when the charging process dies). Built with the configured limits and
 * recovery delay (`createHoldsFeature({ maxLiveHoldsPerUser, paymentCheckSeconds })`).
 */
export function createHoldsFeature(options: HoldLimits & HoldsRoutesOptions): Feature {
  return {
    name: 'holds',
    kinds: [{ kind: 'hold', machine: holdMachine }],
    inline: [holdInventory(options)],
    routes: (deps) => holdsRoutes(deps, options),
    handlers: (deps) => holdHandlers(deps),
  };
}
