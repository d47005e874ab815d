import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Message } from '../actors/ports';
import type { CommandOutcome, RuntimeObserver } from '../actors/runtime';
import type { CallObservation } from '../adapters/call';
import { toMinor, type Money } from '../kernel/money';
import { forScrape } from './metrics';

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface DomainMetrics {
  /** Commands by actor kind and outcome, their duration, version conflicts. */
  readonly runtime: RuntimeObserver;
  /** External calls by service, operation and outcome, with their duration. */
  observeCall(call: CallObservation): void;
  /** Business counters from the facts this instance committed. */
  observeCommitted(messages: readonly Message[]): void;
}

/**
 * The metrics of the domain on the service's registry: what the actors did, what the external services
 * answered, and business counters (bookings, tickets, revenue by currency, holds, bundles). Counters are
 * per instance; Prometheus sums them across instances.
 */
export function createDomainMetrics(registry: Registry, timersOverdue: () => Promise<number>): DomainMetrics {
  const registers = [registry];
  const commands = new Counter({ name: 'actor_commands_total', help: 'Commands sent into actors, by actor kind and outcome', labelNames: ['kind', 'outcome'] as const, registers });
  const commandDuration = new Histogram({ name: 'actor_command_duration_seconds', help: 'Time to load, transition and commit one command', labelNames: ['kind'] as const, buckets: DURATION_BUCKETS, registers });
  const conflicts = new Counter({ name: 'actor_version_conflicts_total', help: 'Lost compare-and-set races, retried', labelNames: ['kind'] as const, registers });
  const calls = new Counter({ name: 'external_calls_total', help: 'Calls to external services by service, operation and outcome', labelNames: ['service', 'operation', 'outcome'] as const, registers });
  const callDuration = new Histogram({ name: 'external_call_duration_seconds', help: 'Duration of external calls', labelNames: ['service', 'operation'] as const, buckets: DURATION_BUCKETS, registers });
  new Gauge({
    name: 'timers_overdue',
    help: 'Durable timers due more than a second ago and not yet fired',
    registers,
    async collect() {
      // A scrape must not fail, nor wait, while the database is away or hangs (`/ready` says so): the last value stays.
      const overdue = await forScrape(timersOverdue()).catch(() => undefined);
      if (overdue !== undefined) this.set(overdue);
    },
  });
  const bookings = new Counter({ name: 'bookings_total', help: 'Bookings made', registers });
  const ticketsSold = new Counter({ name: 'tickets_sold_total', help: 'Tickets confirmed', registers });
  const revenue = moneyCounter(registers, 'revenue_total', 'Price of confirmed tickets, in major units, by currency');
  const refundedRevenue = moneyCounter(registers, 'refunded_revenue_total', 'Price of refunded tickets, in major units, by currency (revenue_total minus this: revenue net of refunds, not of cancellations)');
  const ticketsRefunded = new Counter({ name: 'tickets_refunded_total', help: 'Tickets refunded', registers });
  const holdsExpired = new Counter({ name: 'holds_expired_total', help: 'Seat holds that expired', registers });
  const bundles = new Counter({ name: 'vip_bundles_total', help: 'VIP bundles that ended, by outcome', labelNames: ['outcome'] as const, registers });

  return {
    runtime: {
      command(kind: string, outcome: CommandOutcome, durationSeconds: number) {
        commands.inc({ kind, outcome });
        commandDuration.observe({ kind }, durationSeconds);
      },
      conflict(kind: string) {
        conflicts.inc({ kind });
      },
    },
    observeCall({ service, operation, outcome, durationSeconds }) {
      calls.inc({ service, operation, outcome });
      callDuration.observe({ service, operation }, durationSeconds);
    },
    observeCommitted(messages) {
      for (const message of messages) {
        switch (message.name) {
          // A booking of book-tickets or a VIP bundle, or a hold bought.
          case 'BookingMade_v1':
          case 'TicketsSold_v1':
            bookings.inc();
            break;
          case 'TicketBookingConfirmed_v1': {
            ticketsSold.inc();
            revenue.add(message.data.price as Money | undefined);
            break;
          }
          case 'TicketRefunded_v1':
            ticketsRefunded.inc();
            refundedRevenue.add(message.data.price as Money | undefined);
            break;
          case 'HoldExpired_v1':
            holdsExpired.inc();
            break;
          case 'VipBundleFinalized_v1':
            bundles.inc({ outcome: 'finalized' });
            break;
          case 'VipBundleFailed_v1':
            bundles.inc({ outcome: 'failed' });
            break;
        }
      }
    },
  };
}

/**
 * A counter of money by currency, summed in minor units and written out at each scrape: adding 50.30 to
 * a float total drifts (180.89999999999998).
 */
function moneyCounter(registers: Registry[], name: string, help: string) {
  const minorByCurrency = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: ['currency'] as const,
    registers,
    collect() {
      this.reset();
      for (const [currency, minor] of minorByCurrency) this.inc({ currency }, minor / 100);
    },
  });
  return {
    add(price: Money | undefined) {
      if (price) minorByCurrency.set(price.currency, (minorByCurrency.get(price.currency) ?? 0) + toMinor(price));
    },
  };
}
