import { z } from 'zod';
import { MoneySchema, NonBlankText, PriceInput, SeatLabel, StartTime, UuidInput, WholeNumber } from '../../http/schemas';
import { MAX_MINOR, toMinor } from '../../kernel/money';

const Name = NonBlankText(300);

export const CreateVenueBody = z.object({ name: Name, location: NonBlankText(300) });
export const CreatedVenue = z.object({ venue_id: z.uuid() });

export const CreatePerformerBody = z.object({ name: Name, description: z.string().trim().max(5000).default('') });
export const CreatedPerformer = z.object({ performer_id: z.uuid() });

/** Defaults of API.md: 15 minutes, two renewals, ten seats a user. */
export const HoldPolicy = z.object({
  ttl_seconds: WholeNumber(1, 86_400).default(900),
  max_renewals: WholeNumber(0, 100).default(2),
  max_seats_per_user: WholeNumber(1, 10_000).default(10),
});

export const CreateEventBody = z.object({
  name: Name,
  description: z.string().trim().max(5000).default(''),
  venue_id: UuidInput,
  performer_ids: z.array(UuidInput).max(100).default([]),
  start_time: StartTime,
  seats: z
    .array(z.object({ label: SeatLabel, price: PriceInput }))
    .min(1)
    .max(20_000)
    .refine((seats) => new Set(seats.map((s) => s.label)).size === seats.length, 'seat labels must be unique')
    .refine((seats) => new Set(seats.map((s) => s.price.currency)).size <= 1, 'every seat of an event is priced in one currency')
    // A hold of any of its seats must be chargeable: its total has to fit the money format too.
    // Only of prices that are valid: a malformed one has its own error, and no total to speak of.
    .refine((seats) => seats.reduce((sum, s) => sum + toMinor(s.price), 0) <= MAX_MINOR, {
      message: 'the seats together must cost at most 999999999999.99',
      when: (payload) => payload.issues.length === 0,
    }),
  hold_policy: HoldPolicy.default({ ttl_seconds: 900, max_renewals: 2, max_seats_per_user: 10 }),
});
export type CreateEventBody = z.infer<typeof CreateEventBody>;
export const CreatedEvent = z.object({ event_id: z.uuid() });

export const EventParams = z.object({ id: UuidInput });

export const SeatStatus = z.enum(['available', 'held', 'sold']);

/**
 * An event with every seat's live status. A general-admission show has no seat labels: `seats` is
 * empty, `general_admission` is true and `counts` come from its capacity.
 */
export const EventDetails = z.object({
  event_id: z.string(),
  name: z.string(),
  description: z.string(),
  start_time: z.string(),
  general_admission: z.boolean(),
  venue: z.object({ venue_id: z.string().nullable(), name: z.string(), location: z.string() }),
  performers: z.array(z.object({ performer_id: z.string(), name: z.string() })),
  hold_policy: HoldPolicy.nullable(),
  seats: z.array(z.object({ label: z.string(), status: SeatStatus, price: MoneySchema })),
  counts: z.object({ available: z.number().int(), held: z.number().int(), sold: z.number().int() }),
});
export type EventDetails = z.infer<typeof EventDetails>;
