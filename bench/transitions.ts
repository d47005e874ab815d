/**
 * The XState part of one book-tickets booking, as the actor runtime computes it, in µs of the JS
 * thread: a new `booking` actor takes `booking.make` (can → transition → effects → persisted
 * snapshot), then Dead Nation's reply, `deadNation.booked`, on the snapshot read back from the store
 * (resolveState → can → transition → effects → persisted snapshot). No I/O.
 * Run: `node_modules/.bin/bun bench/transitions.ts [bookings]`.
 *
 * Two ways to start the new actor are compared: `initialTransition()` for each actor (what the
 * runtime did before) and the registry's initial snapshot, computed once per kind (what it does now).
 */
import { cpus } from 'node:os';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { bookingMachine } from '../machines/booking/booking.machine';
import { collectEffects } from '../src/actors/effects';
import { MachineRegistry } from '../src/actors/registry';

const BOOKINGS = Number(Bun.argv[2] ?? 20_000);
const ROUNDS = 5;
const registry = new MachineRegistry([{ kind: 'booking', machine: bookingMachine }]);

function step(snapshot: AnyMachineSnapshot, event: { type: string } & Record<string, unknown>): unknown {
  if (!snapshot.can(event)) throw new Error(`${event.type} refused in ${JSON.stringify(snapshot.value)}`);
  const [next, actions] = transition(bookingMachine, snapshot, event as never);
  collectEffects(actions);
  // The store keeps the persisted snapshot as JSON; the reply is computed on what it gives back.
  return JSON.parse(JSON.stringify(bookingMachine.getPersistedSnapshot(next)));
}

function book(i: number, start: () => AnyMachineSnapshot): void {
  const now = new Date().toISOString();
  const made = step(start(), {
    type: 'booking.make', now, booking_id: `b-${i}`, show_id: 's-1', number_of_tickets: 1, customer_email: 'ann@example.com',
  });
  step(bookingMachine.resolveState(made as never), { type: 'deadNation.booked', now });
}

const ways: Record<string, () => AnyMachineSnapshot> = {
  'initialTransition() per actor': () => initialTransition(bookingMachine)[0],
  "registry's initial snapshot": () => registry.initialSnapshot('booking')!,
};

console.log(`${BOOKINGS} bookings × ${ROUNDS} rounds, alternating; ${cpus().length} × ${cpus()[0]?.model ?? '?'}; bun ${Bun.version}`);
const samples = new Map<string, number[]>(Object.keys(ways).map((name) => [name, []]));
for (let i = 0; i < 2_000; i++) for (const start of Object.values(ways)) book(i, start);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, start] of Object.entries(ways)) {
    const startedAt = performance.now();
    for (let i = 0; i < BOOKINGS; i++) book(i, start);
    samples.get(name)!.push(((performance.now() - startedAt) * 1_000) / BOOKINGS);
  }
}
for (const [name, perBooking] of samples) {
  const sorted = [...perBooking].sort((a, b) => a - b);
  console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs per booking (rounds: ${perBooking.map((us) => us.toFixed(1)).join(', ')})`);
}
