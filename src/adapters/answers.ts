import { z } from 'zod';

/**
 * What the service keeps from an external service's answer is stored, listed and sent on: bounded, so
 * that one misbehaving (or hostile) service cannot fill the read models, and well-formed, so that a
 * receipt's time can be filtered by date. An answer outside these bounds is a `bad_response`: retried
 * with the same idempotency key, then dead-lettered, like an answer that cannot be read.
 */

/** Longest id or number kept from an answer (receipt numbers, payment ids, flight tickets, taxi bookings). */
export const MAX_ANSWER_ID_LENGTH = 200;

/**
 * An id or number an external service gave: 1 to 200 characters, not all blanks, and none of the
 * characters that change how text around them reads or that cannot be seen: control characters (C0
 * and C1), format characters (zero-width, bidirectional overrides) and line or paragraph separators.
 */
export const AnswerId = z
  .string()
  .min(1)
  .max(MAX_ANSWER_ID_LENGTH)
  .regex(/^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u, 'no control, format or separator characters')
  .refine((id) => id.trim() !== '', 'not blank');

/** A time an external service gave: RFC 3339 with `Z` or an offset, any fraction of a second. */
export const AnswerTime = z.iso.datetime({ offset: true });
