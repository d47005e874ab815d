import { z } from 'zod';
import { CURRENCY_PATTERN, MONEY_AMOUNT_PATTERN } from '../kernel/money';

/** Money on the wire (API.md): `{"amount": "50.30", "currency": "GBP"}`. */
export const MoneySchema = z.object({
  amount: z.string().regex(MONEY_AMOUNT_PATTERN, 'a decimal string with exactly 2 places, e.g. "50.30"'),
  currency: z.string().regex(CURRENCY_PATTERN, 'an ISO 4217 code of 3 upper-case letters, e.g. "GBP"'),
});
