import type { HoldContext, HoldEvent, HoldTicket } from '../../../machines/hold/hold.machine';
import { defineHandler, type Handler, type HandlerContext } from '../../messaging/handlers';
import type { FeatureDeps } from '../feature';
import { reply } from '../reply';
import { chargeHold } from './holds.payment';

type Sold = { hold_id: string; booking_id: string; payment_id: string | null; tickets: HoldTicket[] };
type RefundHoldPayment = { hold_id: string; payment_id: string; reason: string };
type ChargeHoldPayment = { hold_id: string };

const fields = <T>(ctx: HandlerContext) => ctx.fields as unknown as T;

/**
 * Tickets of a sale become ticket actors (`ticket.confirm`, paid by the charge), so receipts, prints,
 * sheets and refunds treat them like webhook tickets; a charge whose outcome never reached its hold
 * (the process charging died) is made again with the same idempotency key and its outcome fed back;
 * a payment for a hold that had expired or been released is refunded (one refund per hold and
 * payment, whatever the retries).
 */
export function holdHandlers({ runtime, services, clock, ids }: FeatureDeps): Handler[] {
  return [
    defineHandler({
      name: 'issueHoldTickets',
      effect: 'external',
      on: {
        TicketsSold_v1: async (_message, ctx) => {
          const sold = fields<Sold>(ctx);
          const hold = await runtime.get(`hold/${sold.hold_id}`);
          const customerEmail = (hold?.context as HoldContext | undefined)?.customerEmail ?? '';
          for (const ticket of sold.tickets) {
            await reply(runtime, `ticket/${ticket.ticket_id}`, {
              type: 'ticket.confirm',
              now: clock.now().toISOString(),
              ticket_id: ticket.ticket_id,
              booking_id: sold.booking_id,
              customer_email: customerEmail,
              price: ticket.price,
              // Null for a free ticket: nothing was charged, so its refund returns no money.
              payment_reference: sold.payment_id,
            }, ctx, true);
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
          if (!context?.payment) return;
          await chargeHold(services, context, ctx.callContext(), (event: HoldEvent) => reply(runtime, address, event, ctx), {
            now: () => clock.now().toISOString(),
            ticketIds: () => context.seats.map(() => ids.uuid()),
          });
        },
      },
    }),
    defineHandler({
      name: 'refundLateHoldPayment',
      effect: 'external',
      on: {
        RefundHoldPayment: async (_message, ctx) => {
          const c = fields<RefundHoldPayment>(ctx);
          await services.payments.refund({ payment_reference: c.payment_id, reason: c.reason, deduplication_id: `hold-${c.hold_id}-${c.payment_id}` }, ctx.callContext());
        },
      },
    }),
  ];
}
