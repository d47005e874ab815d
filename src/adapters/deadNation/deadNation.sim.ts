import { createSimulation, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  DEAD_NATION_OPERATIONS,
  DEAD_NATION_SERVICE,
  type BookTicketsRequest,
  type DeadNationOperation,
  type DeadNationPort,
} from './deadNation.port';

/** Dead Nation in process, with its fault injection and inspection. */
export interface DeadNationSimulator extends DeadNationPort, SimulatorControls<DeadNationOperation> {
  /** Bookings placed, duplicates included, in order. */
  bookings(): BookTicketsRequest[];
}

/** Places every booking it receives, duplicates included, as the real provider does. */
export function createDeadNationSimulator(deps: SimulatorDeps): DeadNationSimulator {
  const sim = createSimulation(DEAD_NATION_SERVICE, DEAD_NATION_OPERATIONS, deps);
  let bookings: BookTicketsRequest[] = [];
  sim.onReset(() => {
    bookings = [];
  });

  return {
    ...sim.controls,
    bookTickets: (request, context) => sim.run('bookTickets', request, context, () => {
      bookings.push({ ...request });
    }),
    bookings: () => structuredClone(bookings),
  };
}
