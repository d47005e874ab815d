import { z } from 'zod';

/**
 * A whole number written in decimal digits, `min` to `max` (a configuration value, a query parameter):
 * `z.coerce.number` would also read `0x50`, `1e3`, `+5` or ` 80`, which nobody writing a number means.
 * Past fifteen digits a number is read as too big (every value read is exact); the message of a number
 * out of range says the bound. Documented as the integer it is (with no `pattern`, which says nothing
 * of an integer).
 */
export const decimalWholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string()
    .regex(/^\d+$/, 'a whole number in decimal digits')
    .transform((digits) => (digits.length > 15 ? Number.MAX_VALUE : Number(digits)))
    .pipe(z.number().min(min, `at least ${min}`).max(max, `at most ${max}`))
    .meta({ type: 'integer', minimum: min, maximum: max, pattern: undefined });
