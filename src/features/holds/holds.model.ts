import { z } from 'zod';
import type { HoldContext, HoldSeat } from '../../../machines/hold/hold.machine';
import { MoneySchema, NonBlankText, SeatLabel, UuidInput, WholeNumber } from '../../http/schemas';
import { sumMoney } from '../../kernel/money';

export const PlaceHoldBody = z
  .object({
    event_id: UuidInput,
    seats: z.array(SeatLabel).min(1).max(100).refine((s) => new Set(s).size === s.length, 'seats must be distinct').optional(),
    quantity: WholeNumber(1, 100).optional(),
  })
  .refine((b) => (b.seats === undefined) !== (b.quantity === undefined), 'give either seats or quantity')
  .meta({ oneOf: [{ required: ['seats'] }, { required: ['quantity'] }] });
export type PlaceHoldBody = z.infer<typeof PlaceHoldBody>;

/** `seats`: the labels held, `[]` on a general-admission show; `quantity`: how many seats either way. */
export const PlacedHold = z.object({ hold_id: z.uuid(), expires_at: z.string(), seconds_left: z.number().int(), seats: z.array(z.string()), quantity: z.number().int() });
export const RenewedHold = z.object({ hold_id: z.uuid(), expires_at: z.string(), seconds_left: z.number().int(), renewals_left: z.number().int() });
export const HoldParams = z.object({ id: UuidInput });
export const ConfirmHoldBody = z.object({ payment_method: NonBlankText(200) });
/** `seat` is null for a general-admission ticket (a show): any place, no label. */
export const ConfirmedHold = z.object({ booking_id: z.uuid(), tickets: z.array(z.object({ ticket_id: z.string(), seat: z.string().nullable() })) });

/**
 * A customer's booking: a hold they confirmed. `status` of a ticket: `confirmed`, `refunding`,
 * `refunded` or `canceled`.
 */
export const CustomerBooking = z.object({
  booking_id: z.uuid(),
  event_id: z.uuid(),
  seats: z.array(z.string()),
  quantity: z.number().int(),
  total: MoneySchema,
  payment_id: z.string().nullable(),
  booked_at: z.string(),
  tickets: z.array(z.object({ ticket_id: z.string(), seat: z.string().nullable(), price: MoneySchema, status: z.enum(['confirmed', 'refunding', 'refunded', 'canceled']) })),
});
export type CustomerBooking = z.infer<typeof CustomerBooking>;

/** The labels of numbered seats, in the hold's order; none for general admission. */
export const seatLabels = (seats: readonly HoldSeat[]) => seats.flatMap((s) => (s.label === null ? [] : [s.label]));

/** What a hold's seats cost together (in the currency of its first seat; a hold is in one currency). */
export const holdTotal = (context: HoldContext) => {
  const prices = context.seats.map((s) => s.price);
  return sumMoney(prices, prices[0]!.currency);
};
