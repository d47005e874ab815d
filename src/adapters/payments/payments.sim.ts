import { createSimulation, RecentMap, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  PAYMENTS_ERROR_CODES,
  PAYMENTS_OPERATIONS,
  PAYMENTS_SERVICE,
  type Charge,
  type ChargeRequest,
  type PaymentsOperation,
  type PaymentsPort,
  type RefundRequest,
} from './payments.port';

/** The payment method the simulator always declines (like Stripe's test card `pm_card_chargeDeclined`). */
export const DECLINED_PAYMENT_METHOD = 'pm_card_chargeDeclined';

/** The payments service in process, with its fault injection and inspection. */
export interface PaymentsSimulator extends PaymentsPort, SimulatorControls<PaymentsOperation> {
  /** Charges made (one per idempotency key, declined ones excluded), in order. */
  charges(): Array<ChargeRequest & Charge>;
  /** Refunds made (one per `deduplication_id`), in order. */
  refunds(): RefundRequest[];
}

/**
 * Charges get a payment id from the id source; the same `idempotency_key` returns the first outcome
 * (the same payment id, or the same decline), the same `deduplication_id` refunds once.
 */
export function createPaymentsSimulator(deps: SimulatorDeps): PaymentsSimulator {
  const sim = createSimulation(PAYMENTS_SERVICE, PAYMENTS_OPERATIONS, deps, { errorCodes: PAYMENTS_ERROR_CODES });
  let charges = new RecentMap<string, (ChargeRequest & Charge) | 'declined'>();
  let refunds = new RecentMap<string, RefundRequest>();
  sim.onReset(() => {
    charges = new RecentMap();
    refunds = new RecentMap();
  });

  return {
    ...sim.controls,
    refund: (request, context) => sim.run('refund', request, context, () => {
      if (!refunds.has(request.deduplication_id)) refunds.set(request.deduplication_id, { ...request });
    }),
    charge: (request, context) => sim.run('charge', request, context, () => {
      let outcome = charges.get(request.idempotency_key);
      if (outcome === undefined) {
        outcome = request.payment_method === DECLINED_PAYMENT_METHOD ? 'declined' : { ...structuredClone(request), payment_id: deps.ids.uuid() };
        charges.set(request.idempotency_key, outcome);
      }
      if (outcome === 'declined') throw sim.reject('charge', 402, 'payment declined');
      return { payment_id: outcome.payment_id };
    }),
    charges: () => structuredClone([...charges.values()].filter((c) => c !== 'declined')),
    refunds: () => structuredClone([...refunds.values()]),
  };
}
