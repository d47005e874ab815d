import { z } from 'zod';
import { CURRENCY_PATTERN, MONEY_AMOUNT_PATTERN } from '../../kernel/money';
import { AnswerId, AnswerTime } from '../answers';
import type { CallContext } from '../call';

/** Name of the service in errors, observations and the simulator's call log. */
export const RECEIPTS_SERVICE = 'receipts';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const RECEIPTS_OPERATIONS = ['issueReceipt', 'voidReceipt'] as const;
export type ReceiptsOperation = (typeof RECEIPTS_OPERATIONS)[number];

/** Body of `PUT /receipts-api/receipts`. The service returns the same receipt for the same `idempotency_key`. */
export const IssueReceiptRequest = z.object({
  ticket_id: z.string().min(1),
  price: z.object({
    money_amount: z.string().regex(MONEY_AMOUNT_PATTERN),
    money_currency: z.string().regex(CURRENCY_PATTERN),
  }),
  idempotency_key: z.string().min(1),
});
export type IssueReceiptRequest = z.infer<typeof IssueReceiptRequest>;

/** Answer of `PUT /receipts-api/receipts`. */
export const IssuedReceipt = z.object({ number: AnswerId, issued_at: AnswerTime });
export type IssuedReceipt = z.infer<typeof IssuedReceipt>;

/** Body of `PUT /receipts-api/void-receipt`; `idempotent_id` deduplicates. */
export const VoidReceiptRequest = z.object({
  ticket_id: z.string().min(1),
  reason: z.string().min(1),
  idempotent_id: z.string().min(1),
});
export type VoidReceiptRequest = z.infer<typeof VoidReceiptRequest>;

/** The receipts service. Requests are the wire bodies of API.md; failures are RetryableError or TerminalError. */
export interface ReceiptsPort {
  issueReceipt(request: IssueReceiptRequest, context: CallContext): Promise<IssuedReceipt>;
  voidReceipt(request: VoidReceiptRequest, context: CallContext): Promise<void>;
}
