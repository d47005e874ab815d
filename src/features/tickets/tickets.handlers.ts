import { sheetText, TICKETS_TO_PRINT, TICKETS_TO_REFUND } from '../../adapters/spreadsheets/spreadsheets.port';
import type { Money } from '../../kernel/money';
import { defineHandler, type Handler, type HandlerContext } from '../../messaging/handlers';
import type { BusMessage } from '../../messaging/ports';
import type { FeatureDeps } from '../feature';
import { reply } from '../reply';

interface TicketFields {
  ticket_id: string;
  booking_id: string;
  customer_email: string;
  price: Money;
}

const ticketOf = (ctx: HandlerContext) => ctx.fields as unknown as TicketFields;
/** The handler that issues a ticket's receipt; a refund waiting for that receipt redrives it. */
const ISSUE_RECEIPT_HANDLER = 'issueReceipt';
/** The answer of a sheet row an operator found written after its call's answer was lost (see answerWhenTookEffect). */
const ROW_WRITTEN = 'row written';

/** The row of a ticket in the print and refund sheets (API.md): `[ticket_id, customer_email, amount, currency]`. */
const sheetRow = (ctx: HandlerContext) => {
  const t = ticketOf(ctx);
  return [t.ticket_id, sheetText(t.customer_email), t.price.amount, t.price.currency];
};

/**
 * The key a receipt is derived from: the webhook's Idempotency-Key, or the fact's own id when no key
 * caused it. Messages published before the request key travelled in the metadata had it in the header.
 */
const receiptKeyBaseOf = (message: BusMessage) =>
  message.metadata.idempotency_key ?? String((message.payload.header as { idempotency_key: string }).idempotency_key);

/** The printed ticket: a small HTML page naming the ticket and its price. */
export function ticketHtml(ticket: TicketFields): string {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>Ticket ${escape(ticket.ticket_id)}</title></head>` +
    `<body><h1>Ticket ${escape(ticket.ticket_id)}</h1><p>Price: ${escape(ticket.price.amount)} ${escape(ticket.price.currency)}</p></body></html>`;
}

/**
 * The reactions to tickets: receipt, printed file and sheet rows for confirmed tickets, the refund sheet
 * for cancelled ones, and the refund chain (void the receipt, then refund the payment). External calls
 * carry keys derived from the message, and each reply goes back into the actor that asked.
 */
export function ticketHandlers({ runtime, services, clock, settleDeadLetters, redriveIfSafe }: FeatureDeps): Handler[] {
  const now = () => clock.now().toISOString();
  /**
   * A refund's step is done: the dead letters of earlier asks of it (before its step check asked again)
   * need no operator any more.
   */
  const stepDone = (ctx: HandlerContext, ticketId: string) => settleDeadLetters(ctx.handler, `refund/${ticketId}`, () => true);
  return [
    defineHandler({
      name: ISSUE_RECEIPT_HANDLER,
      effect: 'external',
      on: {
        TicketBookingConfirmed_v1: async (message, ctx) => {
          const ticket = ticketOf(ctx);
          const receipt = await services.receipts.issueReceipt(
            {
              ticket_id: ticket.ticket_id,
              price: { money_amount: ticket.price.amount, money_currency: ticket.price.currency },
              idempotency_key: `${receiptKeyBaseOf(message)}-${ticket.ticket_id}`,
            },
            await ctx.callContext(),
          );
          await reply(runtime, `ticket/${ticket.ticket_id}`, { type: 'receipts.issued', now: now(), receipt_number: receipt.number, issued_at: receipt.issued_at }, ctx);
        },
      },
    }),
    defineHandler({
      // A refund waits for the receipt it voids: at its step check the ticket asks for the receipt again.
      // Its issue, if dead-lettered, runs again with its first idempotency key (the receipts service
      // deduplicates it); a receipt still on its way, or issued, needs nothing.
      name: 'askReceiptAgain',
      effect: 'external',
      on: {
        AskReceiptAgain: async (_message, ctx) => {
          const { ticket_id: ticketId } = ctx.fields as { ticket_id: string };
          const outcome = await redriveIfSafe(ISSUE_RECEIPT_HANDLER, `ticket/${ticketId}`);
          ctx.logger.info('asked for the receipt again', { ticket_id: ticketId, outcome });
        },
      },
    }),
    defineHandler({
      name: 'printTicket',
      effect: 'external',
      on: {
        TicketBookingConfirmed_v1: async (_message, ctx) => {
          const ticket = ticketOf(ctx);
          const file = await services.files.putTicketFile({ ticket_id: ticket.ticket_id, content: ticketHtml(ticket) }, await ctx.callContext());
          await reply(runtime, `ticket/${ticket.ticket_id}`, { type: 'files.printed', now: now(), file_name: file.file_name }, ctx);
        },
      },
    }),
    defineHandler({
      name: 'appendToPrintSheet',
      effect: 'external',
      notRepeatable: true,
      answerWhenTookEffect: ROW_WRITTEN,
      on: {
        TicketBookingConfirmed_v1: async (_message, ctx) => {
          // Resolved by an operator who found the row in the sheet: it is not written again.
          if (ctx.answered() === ROW_WRITTEN) return;
          await services.spreadsheets.appendRow({ sheet: TICKETS_TO_PRINT, columns: sheetRow(ctx) }, await ctx.callContext());
        },
      },
    }),
    defineHandler({
      name: 'appendToRefundSheet',
      effect: 'external',
      notRepeatable: true,
      answerWhenTookEffect: ROW_WRITTEN,
      on: {
        TicketBookingCanceled_v1: async (_message, ctx) => {
          // Resolved by an operator who found the row in the sheet: it is not written again.
          if (ctx.answered() === ROW_WRITTEN) return;
          await services.spreadsheets.appendRow({ sheet: TICKETS_TO_REFUND, columns: sheetRow(ctx) }, await ctx.callContext());
        },
      },
    }),
    defineHandler({
      name: 'startRefund',
      effect: 'external',
      on: {
        RefundTicket: async (_message, ctx) => {
          const { ticket_id: ticketId, payment_reference: paymentReference } = ctx.fields as { ticket_id: string; payment_reference: string | null };
          await reply(runtime, `refund/${ticketId}`, { type: 'refund.request', now: now(), ticket_id: ticketId, payment_reference: paymentReference, reason: 'ticket refunded' }, ctx, true);
        },
      },
    }),
    defineHandler({
      name: 'voidReceipt',
      effect: 'external',
      on: {
        VoidReceipt: async (_message, ctx) => {
          const f = ctx.fields as { ticket_id: string; reason: string; idempotent_id: string };
          await services.receipts.voidReceipt({ ticket_id: f.ticket_id, reason: f.reason, idempotent_id: f.idempotent_id }, await ctx.callContext());
          await reply(runtime, `refund/${f.ticket_id}`, { type: 'receipts.voided', now: now() }, ctx);
          await stepDone(ctx, f.ticket_id);
        },
      },
    }),
    defineHandler({
      name: 'refundPayment',
      effect: 'external',
      on: {
        RefundPayment: async (_message, ctx) => {
          const f = ctx.fields as { ticket_id: string; payment_reference: string; reason: string; deduplication_id: string };
          await services.payments.refund({ payment_reference: f.payment_reference, reason: f.reason, deduplication_id: f.deduplication_id }, await ctx.callContext());
          await reply(runtime, `refund/${f.ticket_id}`, { type: 'payments.refunded', now: now() }, ctx);
          await stepDone(ctx, f.ticket_id);
        },
      },
    }),
    defineHandler({
      name: 'completeRefund',
      effect: 'external',
      on: {
        TicketRefundCompleted_v1: async (_message, ctx) => {
          const { ticket_id: ticketId } = ctx.fields as { ticket_id: string };
          await reply(runtime, `ticket/${ticketId}`, { type: 'refunds.completed', now: now() }, ctx);
        },
      },
    }),
  ];
}
