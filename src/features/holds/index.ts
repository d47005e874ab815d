import { holdMachine } from '../../../machines/hold/hold.machine';
import { Elysia } from 'elysia';
import type { Feature } from '../feature';
import { customerBookingsRoutes } from './customerBookings.routes';
import { holdHandlers } from './holds.handlers';
import { holdInventory, type HoldLimits } from './holds.inventory';
import { holdsRoutes, type HoldsRoutesOptions } from './holds.routes';

/**
 * Seat holds on catalogue events and general-admission shows: reserve, renew, release, durable expiry,
 * confirm with payment (recovered when the charging process dies); a customer's confirmed holds are
 * their bookings. Built with the configured limits and recovery delay
 * (`createHoldsFeature({ maxLiveHoldsPerUser, paymentCheckSeconds })`).
 */
export function createHoldsFeature(options: HoldLimits & HoldsRoutesOptions): Feature {
  return {
    name: 'holds',
    kinds: [{ kind: 'hold', machine: holdMachine }],
    inline: [holdInventory(options)],
    routes: (deps) => new Elysia().use(holdsRoutes(deps, options)).use(customerBookingsRoutes(deps)),
    handlers: (deps) => holdHandlers(deps),
  };
}
