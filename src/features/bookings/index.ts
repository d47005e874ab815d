import { Elysia } from 'elysia';
import { bookingMachine } from '../../../machines/booking/booking.machine';
import type { Feature } from '../feature';
import { bookingsRoutes } from './bookings.routes';
import { opsBookingsProjection } from './opsBookings.projection';
import { opsBookingsRoutes } from './opsBookings.routes';
import { opsTicketsProjection } from './opsTickets.projection';

/** Bookings of general-admission seats and their ops read model. */
export const bookingsFeature: Feature = {
  name: 'bookings',
  kinds: [{ kind: 'booking', machine: bookingMachine }],
  projections: [opsBookingsProjection, opsTicketsProjection],
  routes: (deps) => new Elysia().use(bookingsRoutes(deps)).use(opsBookingsRoutes(deps)),
};
