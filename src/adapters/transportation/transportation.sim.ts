import { createSimulation, RecentMap, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  TRANSPORTATION_OPERATIONS,
  TRANSPORTATION_SERVICE,
  type BookedFlight,
  type BookedTaxi,
  type BookFlightRequest,
  type BookTaxiRequest,
  type TransportationOperation,
  type TransportationPort,
} from './transportation.port';

/** A flight ticket the simulator issued. */
export interface SimFlightTicket {
  ticket_id: string;
  flight_id: string;
  passenger_name: string;
  reference_id: string;
  cancelled: boolean;
}

/** The transportation service in process, with its fault injection and inspection. */
export interface TransportationSimulator extends TransportationPort, SimulatorControls<TransportationOperation> {
  /** Flight tickets issued, cancelled ones included, in order. */
  flightTickets(): SimFlightTicket[];
  /** Taxi bookings made (one per idempotency key), in order. */
  taxiBookings(): Array<BookTaxiRequest & BookedTaxi>;
}

/**
 * Issues one flight ticket per passenger and one taxi booking per request, ids from the id source;
 * the same `idempotency_key` returns the first answer. Cancelling is idempotent; an unknown ticket is 404.
 */
export function createTransportationSimulator(deps: SimulatorDeps): TransportationSimulator {
  const sim = createSimulation(TRANSPORTATION_SERVICE, TRANSPORTATION_OPERATIONS, deps);
  let flightsByKey = new RecentMap<string, BookedFlight>();
  let tickets = new RecentMap<string, SimFlightTicket>();
  let taxis = new RecentMap<string, BookTaxiRequest & BookedTaxi>();
  sim.onReset(() => {
    flightsByKey = new RecentMap();
    tickets = new RecentMap();
    taxis = new RecentMap();
  });

  const bookFlight = (request: BookFlightRequest): BookedFlight => {
    const ticketIds = request.passenger_names.map((passenger) => {
      const ticket = {
        ticket_id: deps.ids.uuid(),
        flight_id: request.flight_id,
        passenger_name: passenger,
        reference_id: request.reference_id,
        cancelled: false,
      };
      tickets.set(ticket.ticket_id, ticket);
      return ticket.ticket_id;
    });
    const booked = { ticket_ids: ticketIds };
    flightsByKey.set(request.idempotency_key, booked);
    return booked;
  };

  return {
    ...sim.controls,
    bookFlight: (request, context) => sim.run('bookFlight', request, context, () =>
      structuredClone(flightsByKey.get(request.idempotency_key) ?? bookFlight(request))),
    cancelFlightTicket: (request, context) => sim.run('cancelFlightTicket', request, context, () => {
      const ticket = tickets.get(request.ticket_id);
      if (ticket === undefined) throw sim.reject('cancelFlightTicket', 404, `flight ticket ${request.ticket_id} not found`);
      ticket.cancelled = true;
    }),
    bookTaxi: (request, context) => sim.run('bookTaxi', request, context, () => {
      let booking = taxis.get(request.idempotency_key);
      if (booking === undefined) {
        booking = { ...request, booking_id: deps.ids.uuid() };
        taxis.set(request.idempotency_key, booking);
      }
      return { booking_id: booking.booking_id };
    }),
    flightTickets: () => structuredClone([...tickets.values()]),
    taxiBookings: () => structuredClone([...taxis.values()]),
  };
}
