import { assertEvent, assign, emit, setup } from 'xstate';
import { firstCheck, nextCheck, STEP_CHECK_TIMER, type StepCheck } from '../shared/stepChecks';
import { cancelTimer, setTimer } from '../shared/timers';

/** The two flights of a bundle. */
export type FlightLeg = 'inbound' | 'return';

/** The status of one leg, as the status endpoint shows it. */
export type LegStatus = 'pending' | 'booked' | 'failed' | 'compensated';

/** Events into a bundle: its start, its deadline, and the replies of the handlers of its steps. */
export type VipBundleEvent =
  | {
      type: 'vipBundle.start';
      now: string;
      vip_bundle_id: string;
      booking_id: string;
      show_id: string;
      number_of_tickets: number;
      customer_email: string;
      passengers: string[];
      inbound_flight_id: string;
      returned_flight_id: string;
      deadline_at: string;
    }
  | { type: 'vipBundle.expire'; now: string; due_at: string }
  | { type: 'vipBundle.checkStep'; now: string; due_at: string }
  | { type: 'tickets.booked'; now: string }
  | { type: 'tickets.failed'; now: string; reason: string }
  | { type: 'tickets.cancelled'; now: string }
  | { type: 'flights.booked'; now: string; leg: FlightLeg; ticket_ids: string[] }
  | { type: 'flights.failed'; now: string; leg: FlightLeg; reason: string }
  | { type: 'flights.cancelled'; now: string; leg: FlightLeg }
  | { type: 'taxi.booked'; now: string; booking_id: string }
  | { type: 'taxi.failed'; now: string; reason: string };

/** The show tickets: one booking actor, `booking/<bookingId>`. */
export interface TicketsLeg {
  status: LegStatus;
  reason: string | null;
}

/** One flight: one ticket per passenger. */
export interface FlightLegState {
  flightId: string;
  status: LegStatus;
  ticketIds: string[];
  reason: string | null;
}

/** The taxi; `taxiBookingId` is the transportation service's booking id. */
export interface TaxiLeg {
  status: LegStatus;
  taxiBookingId: string | null;
  reason: string | null;
}

/** What a bundle remembers: its request, its deadline and each leg. */
export interface VipBundleContext {
  vipBundleId: string;
  bookingId: string;
  showId: string;
  numberOfTickets: number;
  customerEmail: string;
  passengers: string[];
  deadlineAt: string;
  initializedAt: string;
  legs: { tickets: TicketsLeg; inbound: FlightLegState; return: FlightLegState; taxi: TaxiLeg };
  /** Why the bundle is being undone: the first terminal failure, or the deadline. */
  reason: string | null;
  /**
   * When the step the bundle waits for is asked again if no reply has come (its command dead-lettered,
   * say), and the wait before that; absent in bundles started before step checks existed.
   */
  stepCheck?: StepCheck | null;
}

/** Tag of the states in which the bundle undoes what it booked, or waits to learn what it must undo. */
export const COMPENSATING = 'compensating';

/** The name of the durable deadline timer. */
export const DEADLINE_TIMER = 'deadline';


const LEG_NAMES: Record<FlightLeg, string> = { inbound: 'inbound flight', return: 'return flight' };

type LegParams = { leg: FlightLeg };

const flight = (flightId: string): FlightLegState => ({ flightId, status: 'pending', ticketIds: [], reason: null });

/**
 * A VIP bundle (`vipBundle/<vip_bundle_id>`): a saga that books show tickets, an inbound flight, a
 * return flight and a taxi, one after the other, and undoes what it booked when a step fails for good
 * or its deadline passes.
 *
 *   forward       new → bookingTickets → bookingInboundFlight → bookingReturnFlight → bookingTaxi → finalized
 *   step failed   bookingTickets → failed (nothing to undo)      bookingInboundFlight → cancellingTickets
 *                 bookingReturnFlight → cancellingInboundFlight  bookingTaxi → cancellingReturnFlight
 *   compensation  cancellingReturnFlight → cancellingInboundFlight → cancellingTickets → failed
 *   deadline      booking<Step> → abandoning<Step>; when the step in flight replies: booked → undo it too,
 *                 failed → as above (abandoningTaxi + taxi.booked → finalized)
 *   step check    in any state that waits for a reply: the same command again, the state unchanged
 *
 * Each step is an outbound command (`BookShowTickets`, `BookFlight`, `BookTaxi`, `CancelFlightTickets`,
 * `CancelShowTickets`) whose handler replies with an event. Compensation runs in reverse order and only
 * over what was booked. The deadline is a durable timer; when it fires, the bundle books nothing more,
 * waits for the outcome of the step in flight (an `abandoning…` state: what it booked must be undone
 * too), then compensates. A taxi booked after the deadline completes the bundle instead: the taxi is
 * the last step and cannot be cancelled.
 *
 * A step whose reply does not come (its command dead-lettered after an outage) is asked again, with the
 * same idempotency key, STEP_CHECK_MS after it was asked and then twice as long each time, up to
 * STEP_CHECK_MAX_MS: a bundle never waits for an operator to move on, forward or back.
 */
export const vipBundleMachine = setup({
  types: { context: {} as VipBundleContext, events: {} as VipBundleEvent },
  guards: {
    isLeg: ({ event }, { leg }: LegParams) => 'leg' in event && event.leg === leg,
    isCurrentCheck: ({ context, event }) => event.type === 'vipBundle.checkStep' && event.due_at === context.stepCheck?.at,
  },
  actions: {
    assignStart: assign(({ event }) => {
      assertEvent(event, 'vipBundle.start');
      return {
        vipBundleId: event.vip_bundle_id,
        bookingId: event.booking_id,
        showId: event.show_id,
        numberOfTickets: event.number_of_tickets,
        customerEmail: event.customer_email,
        passengers: event.passengers,
        deadlineAt: event.deadline_at,
        initializedAt: event.now,
        legs: {
          tickets: { status: 'pending', reason: null },
          inbound: flight(event.inbound_flight_id),
          return: flight(event.returned_flight_id),
          taxi: { status: 'pending', taxiBookingId: null, reason: null },
        },
      };
    }),
    assignExpired: assign({ reason: ({ context }) => context.reason ?? 'the deadline passed' }),
    clearReason: assign({ reason: null }),
    assignTicketsBooked: assign({ legs: ({ context }) => ({ ...context.legs, tickets: { status: 'booked', reason: null } }) }),
    assignTicketsFailed: assign(({ context, event }) => {
      assertEvent(event, 'tickets.failed');
      return {
        legs: { ...context.legs, tickets: { status: 'failed', reason: event.reason } },
        reason: context.reason ?? `tickets: ${event.reason}`,
      };
    }),
    assignTicketsCancelled: assign({ legs: ({ context }) => ({ ...context.legs, tickets: { ...context.legs.tickets, status: 'compensated' } }) }),
    assignFlightBooked: assign({
      legs: ({ context, event }) => {
        assertEvent(event, 'flights.booked');
        return { ...context.legs, [event.leg]: { ...context.legs[event.leg], status: 'booked', ticketIds: event.ticket_ids } };
      },
    }),
    assignFlightFailed: assign(({ context, event }) => {
      assertEvent(event, 'flights.failed');
      return {
        legs: { ...context.legs, [event.leg]: { ...context.legs[event.leg], status: 'failed', reason: event.reason } },
        reason: context.reason ?? `${LEG_NAMES[event.leg]}: ${event.reason}`,
      };
    }),
    assignFlightCancelled: assign({
      legs: ({ context, event }) => {
        assertEvent(event, 'flights.cancelled');
        return { ...context.legs, [event.leg]: { ...context.legs[event.leg], status: 'compensated' } };
      },
    }),
    assignTaxiBooked: assign({
      legs: ({ context, event }) => {
        assertEvent(event, 'taxi.booked');
        return { ...context.legs, taxi: { status: 'booked', taxiBookingId: event.booking_id, reason: null } };
      },
    }),
    assignTaxiFailed: assign(({ context, event }) => {
      assertEvent(event, 'taxi.failed');
      return {
        legs: { ...context.legs, taxi: { status: 'failed', taxiBookingId: null, reason: event.reason } },
        reason: context.reason ?? `taxi: ${event.reason}`,
      };
    }),
    assignFirstCheck: assign({ stepCheck: ({ event }) => firstCheck(event.now) }),
    assignNextCheck: assign({ stepCheck: ({ context, event }) => nextCheck(context.stepCheck, event.now) }),
    scheduleStepCheck: emit(({ context }) => setTimer(STEP_CHECK_TIMER, context.stepCheck!.at, { type: 'vipBundle.checkStep' })),
    scheduleDeadline: emit(({ context }) => setTimer(DEADLINE_TIMER, context.deadlineAt, { type: 'vipBundle.expire' })),
    cancelDeadline: emit(() => cancelTimer(DEADLINE_TIMER)),
    askBookTickets: emit(({ context }) => ({
      type: 'BookShowTickets',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      show_id: context.showId,
      number_of_tickets: context.numberOfTickets,
      customer_email: context.customerEmail,
    })),
    askBookFlight: emit(({ context }, { leg }: LegParams) => ({
      type: 'BookFlight',
      vip_bundle_id: context.vipBundleId,
      leg,
      flight_id: context.legs[leg].flightId,
      customer_email: context.customerEmail,
      passenger_names: context.passengers,
      reference_id: context.vipBundleId,
      idempotency_key: `${context.vipBundleId}-${leg}`,
    })),
    askBookTaxi: emit(({ context }) => ({
      type: 'BookTaxi',
      vip_bundle_id: context.vipBundleId,
      customer_email: context.customerEmail,
      number_of_passengers: context.passengers.length,
      passenger_name: context.passengers[0],
      reference_id: context.vipBundleId,
      idempotency_key: `${context.vipBundleId}-taxi`,
    })),
    askCancelFlight: emit(({ context }, { leg }: LegParams) => ({
      type: 'CancelFlightTickets',
      vip_bundle_id: context.vipBundleId,
      leg,
      ticket_ids: context.legs[leg].ticketIds,
    })),
    askCancelTickets: emit(({ context }) => ({
      type: 'CancelShowTickets',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
    })),
    tellInitialized: emit(({ context }) => ({
      type: 'VipBundleInitialized_v1',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      show_id: context.showId,
      number_of_tickets: context.numberOfTickets,
      customer_email: context.customerEmail,
      passengers: context.passengers,
      inbound_flight_id: context.legs.inbound.flightId,
      returned_flight_id: context.legs.return.flightId,
      deadline_at: context.deadlineAt,
      initialized_at: context.initializedAt,
    })),
    tellTicketsBooked: emit(({ context, event }) => ({
      type: 'VipBundleTicketsBooked_v1',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      booked_at: event.now,
    })),
    tellTicketsFailed: emit(({ context, event }) => {
      assertEvent(event, 'tickets.failed');
      return { type: 'VipBundleTicketsFailed_v1', vip_bundle_id: context.vipBundleId, booking_id: context.bookingId, reason: event.reason, failed_at: event.now };
    }),
    tellTicketsCancelled: emit(({ context, event }) => ({
      type: 'VipBundleTicketsCancelled_v1',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      cancelled_at: event.now,
    })),
    tellFlightBooked: emit(({ context, event }) => {
      assertEvent(event, 'flights.booked');
      return {
        type: 'VipBundleFlightBooked_v1',
        vip_bundle_id: context.vipBundleId,
        leg: event.leg,
        flight_id: context.legs[event.leg].flightId,
        ticket_ids: event.ticket_ids,
        booked_at: event.now,
      };
    }),
    tellFlightFailed: emit(({ context, event }) => {
      assertEvent(event, 'flights.failed');
      return {
        type: 'VipBundleFlightFailed_v1',
        vip_bundle_id: context.vipBundleId,
        leg: event.leg,
        flight_id: context.legs[event.leg].flightId,
        reason: event.reason,
        failed_at: event.now,
      };
    }),
    tellFlightCancelled: emit(({ context, event }) => {
      assertEvent(event, 'flights.cancelled');
      return {
        type: 'VipBundleFlightCancelled_v1',
        vip_bundle_id: context.vipBundleId,
        leg: event.leg,
        ticket_ids: context.legs[event.leg].ticketIds,
        cancelled_at: event.now,
      };
    }),
    tellTaxiBooked: emit(({ context, event }) => {
      assertEvent(event, 'taxi.booked');
      return { type: 'VipBundleTaxiBooked_v1', vip_bundle_id: context.vipBundleId, taxi_booking_id: event.booking_id, booked_at: event.now };
    }),
    tellTaxiFailed: emit(({ context, event }) => {
      assertEvent(event, 'taxi.failed');
      return { type: 'VipBundleTaxiFailed_v1', vip_bundle_id: context.vipBundleId, reason: event.reason, failed_at: event.now };
    }),
    tellFinalized: emit(({ context, event }) => ({
      type: 'VipBundleFinalized_v1',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      finalized_at: event.now,
    })),
    tellFailed: emit(({ context, event }) => ({
      type: 'VipBundleFailed_v1',
      vip_bundle_id: context.vipBundleId,
      booking_id: context.bookingId,
      reason: context.reason,
      failed_at: event.now,
    })),
  },
}).createMachine({
  id: 'vipBundle-v1',
  initial: 'new',
  context: {
    vipBundleId: '',
    bookingId: '',
    showId: '',
    numberOfTickets: 0,
    customerEmail: '',
    passengers: [],
    deadlineAt: '',
    initializedAt: '',
    legs: {
      tickets: { status: 'pending', reason: null },
      inbound: flight(''),
      return: flight(''),
      taxi: { status: 'pending', taxiBookingId: null, reason: null },
    },
    reason: null,
    stepCheck: null,
  },
  states: {
    new: {
      on: { 'vipBundle.start': { target: 'bookingTickets', actions: ['assignStart', 'tellInitialized', 'askBookTickets', 'scheduleDeadline'] } },
    },
    bookingTickets: {
      entry: ['assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: ['askBookTickets', 'assignNextCheck', 'scheduleStepCheck'] },
        'tickets.booked': {
          target: 'bookingInboundFlight',
          actions: ['assignTicketsBooked', 'tellTicketsBooked', { type: 'askBookFlight', params: { leg: 'inbound' } }],
        },
        'tickets.failed': { target: 'failed', actions: ['assignTicketsFailed', 'tellTicketsFailed'] },
        'vipBundle.expire': { target: 'abandoningTickets', actions: 'assignExpired' },
      },
    },
    bookingInboundFlight: {
      entry: ['assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askBookFlight', params: { leg: 'inbound' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.booked': {
          guard: { type: 'isLeg', params: { leg: 'inbound' } },
          target: 'bookingReturnFlight',
          actions: ['assignFlightBooked', 'tellFlightBooked', { type: 'askBookFlight', params: { leg: 'return' } }],
        },
        'flights.failed': {
          guard: { type: 'isLeg', params: { leg: 'inbound' } },
          target: 'cancellingTickets',
          actions: ['assignFlightFailed', 'tellFlightFailed', 'cancelDeadline'],
        },
        'vipBundle.expire': { target: 'abandoningInboundFlight', actions: 'assignExpired' },
      },
    },
    bookingReturnFlight: {
      entry: ['assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askBookFlight', params: { leg: 'return' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.booked': {
          guard: { type: 'isLeg', params: { leg: 'return' } },
          target: 'bookingTaxi',
          actions: ['assignFlightBooked', 'tellFlightBooked', 'askBookTaxi'],
        },
        'flights.failed': {
          guard: { type: 'isLeg', params: { leg: 'return' } },
          target: 'cancellingInboundFlight',
          actions: ['assignFlightFailed', 'tellFlightFailed', 'cancelDeadline'],
        },
        'vipBundle.expire': { target: 'abandoningReturnFlight', actions: 'assignExpired' },
      },
    },
    bookingTaxi: {
      entry: ['assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: ['askBookTaxi', 'assignNextCheck', 'scheduleStepCheck'] },
        'taxi.booked': { target: 'finalized', actions: ['assignTaxiBooked', 'tellTaxiBooked'] },
        'taxi.failed': { target: 'cancellingReturnFlight', actions: ['assignTaxiFailed', 'tellTaxiFailed', 'cancelDeadline'] },
        'vipBundle.expire': { target: 'abandoningTaxi', actions: 'assignExpired' },
      },
    },
    // Past the deadline with a step in flight: its outcome decides what there is to undo.
    abandoningTickets: {
      tags: COMPENSATING,
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: ['askBookTickets', 'assignNextCheck', 'scheduleStepCheck'] },
        'tickets.booked': { target: 'cancellingTickets', actions: ['assignTicketsBooked', 'tellTicketsBooked'] },
        'tickets.failed': { target: 'failed', actions: ['assignTicketsFailed', 'tellTicketsFailed'] },
      },
    },
    abandoningInboundFlight: {
      tags: COMPENSATING,
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askBookFlight', params: { leg: 'inbound' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.booked': {
          guard: { type: 'isLeg', params: { leg: 'inbound' } },
          target: 'cancellingInboundFlight',
          actions: ['assignFlightBooked', 'tellFlightBooked'],
        },
        'flights.failed': {
          guard: { type: 'isLeg', params: { leg: 'inbound' } },
          target: 'cancellingTickets',
          actions: ['assignFlightFailed', 'tellFlightFailed'],
        },
      },
    },
    abandoningReturnFlight: {
      tags: COMPENSATING,
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askBookFlight', params: { leg: 'return' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.booked': {
          guard: { type: 'isLeg', params: { leg: 'return' } },
          target: 'cancellingReturnFlight',
          actions: ['assignFlightBooked', 'tellFlightBooked'],
        },
        'flights.failed': {
          guard: { type: 'isLeg', params: { leg: 'return' } },
          target: 'cancellingInboundFlight',
          actions: ['assignFlightFailed', 'tellFlightFailed'],
        },
      },
    },
    abandoningTaxi: {
      tags: COMPENSATING,
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: ['askBookTaxi', 'assignNextCheck', 'scheduleStepCheck'] },
        // The taxi is the last step: booked late, everything is booked, and the bundle is finalized.
        'taxi.booked': { target: 'finalized', actions: ['assignTaxiBooked', 'clearReason', 'tellTaxiBooked'] },
        'taxi.failed': { target: 'cancellingReturnFlight', actions: ['assignTaxiFailed', 'tellTaxiFailed'] },
      },
    },
    cancellingReturnFlight: {
      tags: COMPENSATING,
      entry: [{ type: 'askCancelFlight', params: { leg: 'return' } }, 'assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askCancelFlight', params: { leg: 'return' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.cancelled': {
          guard: { type: 'isLeg', params: { leg: 'return' } },
          target: 'cancellingInboundFlight',
          actions: ['assignFlightCancelled', 'tellFlightCancelled'],
        },
      },
    },
    cancellingInboundFlight: {
      tags: COMPENSATING,
      entry: [{ type: 'askCancelFlight', params: { leg: 'inbound' } }, 'assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: [{ type: 'askCancelFlight', params: { leg: 'inbound' } }, 'assignNextCheck', 'scheduleStepCheck'] },
        'flights.cancelled': {
          guard: { type: 'isLeg', params: { leg: 'inbound' } },
          target: 'cancellingTickets',
          actions: ['assignFlightCancelled', 'tellFlightCancelled'],
        },
      },
    },
    cancellingTickets: {
      tags: COMPENSATING,
      entry: ['askCancelTickets', 'assignFirstCheck', 'scheduleStepCheck'],
      on: {
        'tickets.cancelled': { target: 'failed', actions: ['assignTicketsCancelled', 'tellTicketsCancelled'] },
        'vipBundle.checkStep': { guard: 'isCurrentCheck', actions: ['askCancelTickets', 'assignNextCheck', 'scheduleStepCheck'] },
      },
    },
    finalized: { type: 'final', entry: 'tellFinalized' },
    failed: { type: 'final', entry: 'tellFailed' },
  },
});
