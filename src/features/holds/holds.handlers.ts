import type { HoldContext, HoldEvent, HoldTicket } from '../../../machines/hold/hold.machine';
import { defineHandler, type Handler, type HandlerContext } from '../../messaging/handlers';
import type { FeatureDeps } from '../feature';
import { reply } from '../reply';
import { chargeHold } from './holds.payment';
import { ticketConfirmations } from './holds.tickets';

type Sold = { hold_id: string; booking_id: string; customer_email?: string; payment_id: string | null; tickets: HoldTicket[] };
type RefundHoldPayment = { hold_id: string; payment_id: string; reason: string };
type ChargeHoldPayment = { hold_id: string };

const fields = <T>(ctx: HandlerContext) => ctx.fields as unknown as T;

/**
 * Tickets of a sale become ticket actors (holds.tickets.ts) where the confirm route did not make them;
 * a charge whose outcome never reached its hold (the process charging died) is made again with the same
 * idempotency key and its outcome fed back; a payment for a hold that had expired or been released is refunded (one refund per hold and
 * payment, whatever the retries).
 */
export function holdHandlers({ runtime, services, clock, ids, settleDeadLetters }: FeatureDeps): Handler[] {
  return [
    defineHandler({
      name: 'issueHoldTickets',
      effect: 'external',
      on: {
        TicketsSold_v1: async (_message, ctx) => {
          const sold = fields<Sold>(ctx);
          // Facts of sales made before TicketsSold_v1 carried the e-mail take it from the hold.
          const customerEmail = sold.customer_email ?? ((await runtime.get(`hold/${sold.hold_id}`))?.context as HoldContext | undefined)?.customerEmail ?? '';
          for (const { address, event } of ticketConfirmations({ ...sold, customer_email: customerEmail }, clock.now().toISOString())) {
            // Made already by the confirm that sold them (the usual case): nothing to refuse and journal.
            if ((await runtime.get(address)) !== null) continue;
            await reply(runtime, address, event, ctx, true);
          }
        },
      },
    }),
    defineHandler({
      name: 'recoverHoldPayment',
      effect: 'external',
      on: {
        ChargeHoldPayment: async (_message, ctx) => {
          const address = `hold/${fields<ChargeHoldPayment>(ctx).hold_id}`;
          const context = (await runtime.get(address))?.context as HoldContext | undefined;
          // The outcome arrived meanwhile (the charge's own route, an earlier delivery): nothing pending.
          if (context?.payment) {
            await chargeHold(services, context, await ctx.callContext(), (event: HoldEvent) => reply(runtime, address, event, ctx), {
              now: () => clock.now().toISOString(),
              ticketIds: () => context.seats.map(() => ids.uuid()),
            });
          }
          // The hold has its outcome: the dead letters of earlier checks (a payments outage) need no operator.
          await settleDeadLetters(ctx.handler, address, () => true);
        },
      },
    }),
    defineHandler({
      name: 'refundLateHoldPayment',
      effect: 'external',
      on: {
        RefundHoldPayment: async (_message, ctx) => {
          const c = fields<RefundHoldPayment>(ctx);
          await services.payments.refund({ payment_reference: c.payment_id, reason: c.reason, deduplication_id: `hold-${c.hold_id}-${c.payment_id}` }, await ctx.callContext());
        },
      },
    }),
  ];
}
