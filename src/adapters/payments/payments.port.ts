import { z } from 'zod';
import { CURRENCY_PATTERN, MONEY_AMOUNT_PATTERN } from '../../kernel/money';
import { AnswerId } from '../answers';
import type { CallContext } from '../call';
import { PAYMENT_DECLINED } from '../errors';

/** Name of the service in errors, observations and the simulator's call log. */
export const PAYMENTS_SERVICE = 'payments';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const PAYMENTS_OPERATIONS = ['refund', 'charge'] as const;
export type PaymentsOperation = (typeof PAYMENTS_OPERATIONS)[number];

/** A declined charge is HTTP 402: a TerminalError with this code (`PAYMENT_DECLINED`). */
export const PAYMENTS_ERROR_CODES = { charge: { 402: PAYMENT_DECLINED } } as const;

/** Body of `PUT /payments-api/refunds`; `deduplication_id` deduplicates. */
export const RefundRequest = z.object({
  payment_reference: z.string().min(1),
  reason: z.string().min(1),
  deduplication_id: z.string().min(1),
});
export type RefundRequest = z.infer<typeof RefundRequest>;

/** Body of `PUT /payments-api/payments` (a charge for a hold); `idempotency_key` deduplicates. */
export const ChargeRequest = z.object({
  payment_reference: z.string().min(1),
  amount: z.object({
    amount: z.string().regex(MONEY_AMOUNT_PATTERN),
    currency: z.string().regex(CURRENCY_PATTERN),
  }),
  payment_method: z.string().min(1),
  idempotency_key: z.string().min(1),
});
export type ChargeRequest = z.infer<typeof ChargeRequest>;

/** Answer of `PUT /payments-api/payments`. */
export const Charge = z.object({ payment_id: AnswerId });
export type Charge = z.infer<typeof Charge>;

/**
 * The payments service. Requests are the wire bodies of API.md; a declined charge rejects with a
 * TerminalError whose `code` is PAYMENT_DECLINED, other failures with RetryableError or TerminalError.
 */
export interface PaymentsPort {
  refund(request: RefundRequest, context: CallContext): Promise<void>;
  charge(request: ChargeRequest, context: CallContext): Promise<Charge>;
}
