import { z } from 'zod';

/**
 * A whole number written in decimal digits, `min` to `max` (a configuration value, a query parameter):
 * `z.coerce.number` would also read `0x50`, `1e3`, `+5` or ` 80`, which nobody writing a number means.
 * Fifteen digits at most, so that every value read is exact; documented as the integer it is.
 */
export const decimalWholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string()
    .regex(/^\d{1,15}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .meta({ type: 'integer', minimum: min, maximum: max });
