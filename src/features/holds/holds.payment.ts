import type { HoldContext, HoldEvent } from '../../../machines/hold/hold.machine';
import type { CallNote } from '../../../machines/shared/calls';
import type { CallContext } from '../../adapters/call';
import { TerminalError } from '../../adapters/errors';
import type { ExternalServices } from '../../adapters';
import { AppError } from '../../kernel/errors';

/** What a charge fed back to its hold (see chargeHold): for a refusal, the payments service's answer. */
export type ChargeOutcome = 'confirmed' | 'declined' | TerminalError;

/**
 * The charges this instance has out, by hold: a confirm that arrives while its hold's charge is out
 * joins it rather than sending its own (a confirm on another instance sends the same idempotency key,
 * so money still moves once).
 */
export function chargesInFlight() {
  const out = new Map<string, Promise<ChargeOutcome>>();
  return {
    join(holdId: string, start: () => Promise<ChargeOutcome>): { outcome: Promise<ChargeOutcome>; joined: boolean } {
      const running = out.get(holdId);
      if (running !== undefined) return { outcome: running, joined: true };
      const outcome = start();
      out.set(holdId, outcome);
      const forget = () => out.delete(holdId);
      outcome.then(forget, forget);
      return { outcome, joined: false };
    },
  };
}

/** Sends one event into the hold: the route's `runtime.send`, or a handler's `reply`. */
type SendToHold = (event: HoldEvent) => Promise<unknown>;

/**
 * Makes the hold's pending charge (`context.payment`, recorded by `hold.pay` before any money moves)
 * and feeds its outcome back: the route does this right away, the ChargeHoldPayment handler when the
 * route died on the way. Both use the hold's idempotency key, so however often it runs the payments
 * service charges once and answers with the same payment. Resolves to the outcome it fed back:
 * `declined` for the payments service's 402, the error itself for any other terminal answer (a 4xx or
 * a redirect: the request went wrong, no money moved either, but the customer's card is not to blame).
 */
export async function chargeHold(
  services: ExternalServices,
  context: HoldContext,
  call: CallContext,
  send: SendToHold,
  stamp: { now: () => string; ticketIds: () => string[] },
): Promise<ChargeOutcome> {
  const payment = context.payment!;
  // What the hold's outcome event carries of this call, for its timeline.
  const startedAt = stamp.now();
  const note = (outcome: 'ok' | 'declined' | 'refused'): CallNote => ({ service: 'payments', operation: 'charge', started_at: startedAt, outcome });
  let paymentId: string;
  try {
    const charge = await services.payments.charge(
      { payment_reference: context.holdId, amount: payment.amount, payment_method: payment.method, idempotency_key: payment.idempotencyKey },
      call,
    );
    paymentId = charge.payment_id;
  } catch (error) {
    // A terminal answer (402 declined, another 4xx) moved no money: the hold can be paid again.
    if (!(error instanceof TerminalError)) throw error;
    const outcome = error.code === 'PAYMENT_DECLINED' ? 'declined' : 'refused';
    await send({ type: 'payment.declined', now: stamp.now(), idempotency_key: payment.idempotencyKey, call: note(outcome) });
    return outcome === 'declined' ? outcome : error;
  }
  const confirm = (now: string): HoldEvent => ({ type: 'hold.confirm', now, payment_id: paymentId, ticket_ids: stamp.ticketIds(), idempotency_key: payment.idempotencyKey, call: note('ok') });
  try {
    await send(confirm(stamp.now()));
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'HOLD_EXPIRED')) throw error;
    // The database gave the seats to someone else (an instance whose clock saw the hold expire): for
    // this hold the payment came too late, so it is told so, expires and refunds it.
    await send(confirm(context.expiresAt));
  }
  return 'confirmed';
}
