import { z } from 'zod';
import '../kernel/validation';
import { UUID_PATTERN } from '../kernel/ids';
import { decimalWholeNumber } from '../kernel/numbers';
import { canonicalAmount, CURRENCY_PATTERN, MONEY_AMOUNT_PATTERN, isIsoCurrency, minorDigitsOf, NO_CURRENCY } from '../kernel/money';

/** Money on the wire (API.md): `{"amount": "50.30", "currency": "GBP"}`. */
export const MoneySchema = z.object({
  amount: z.string().regex(MONEY_AMOUNT_PATTERN, 'a decimal string with at most 12 digits before the point and exactly 2 after, e.g. "50.30"'),
  currency: z.string()
    .regex(CURRENCY_PATTERN, 'an ISO 4217 code of 3 upper-case letters, e.g. "GBP"')
    .refine((code) => !CURRENCY_PATTERN.test(code) || isIsoCurrency(code), 'an ISO 4217 currency code, e.g. "GBP"'),
});

/** Money received: read in its one written form (`0010.00` is `10.00` everywhere after). */
export const MoneyInput = MoneySchema.transform((money) => ({ ...money, amount: canonicalAmount(money.amount) }));

/**
 * A price we set (a seat's): also payable in its currency, so no finer than its minor unit (JPY and KRW
 * have none: `.00`; KWD's third place is beyond the two API.md writes, so it is always 0) and, in XXX
 * ("no currency"), only 0.00. What a ticket provider reports it sold (MoneyInput) is taken as sent.
 */
export const PriceInput = MoneyInput.superRefine((money, ctx) => {
  if (money.currency === NO_CURRENCY && money.amount !== '0.00') {
    ctx.addIssue({ code: 'custom', path: ['amount'], message: `${NO_CURRENCY} means no currency: only 0.00 (a free seat)` });
  } else if (isIsoCurrency(money.currency) && minorDigitsOf(money.currency) === 0 && !money.amount.endsWith('.00')) {
    ctx.addIssue({ code: 'custom', path: ['amount'], message: `${money.currency} has no minor unit: the amount must end in .00` });
  }
});

/**
 * An e-mail address a customer gives us, within the lengths mail can be delivered to (RFC 5321: 254 in
 * all, 64 before the @, 63 a domain label): receipts and tickets go to it. The ticket provider's webhook
 * takes any valid address up to 320 characters instead: it reports sales, which are not refused.
 */
export const DeliverableEmail = z.email()
  .max(254)
  .refine((email) => email.slice(0, email.lastIndexOf('@')).length <= 64, 'at most 64 characters before the @')
  .refine((email) => email.slice(email.lastIndexOf('@') + 1).split('.').every((label) => label.length <= 63), 'at most 63 characters between dots of the domain');

/**
 * A start time: RFC 3339 with an offset, read and kept in UTC with `Z`. RFC 3339 lets `T` and `Z` be
 * written in lower case, and so does this; the document says `format: date-time` (RFC 3339) instead of
 * the upper-case-only pattern zod would write, so that a client checking its requests against it sends
 * what the server takes.
 */
export const StartTime = z.preprocess(
  (value) => (typeof value === 'string' ? value.toUpperCase() : value),
  z.iso.datetime({ offset: true })
    // 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC, which RFC 3339 cannot write. A time that
    // does not exist (hour 25, month 13) is refused by the format alone and needs no word about the year.
    .refine((value) => !(new Date(value).getUTCFullYear() > 9999), 'must be before the year 10000 in UTC')
    .transform((value) => new Date(value).toISOString()),
).meta({ format: 'date-time', pattern: undefined });

/**
 * A UUID as text: 8-4-4-4-12 hex digits of any version and variant, as PostgreSQL and the system we
 * replace accept them (zod's `z.uuid()` refuses, say, `12345678-1234-1234-1234-123456789012`, an id a
 * ticket provider may well send). For ids in responses that a client may have chosen.
 */
export const Uuid = z.string().regex(UUID_PATTERN, 'Invalid UUID');

/**
 * A UUID received in a path or body, read in lower case (UUIDs are case-insensitive on input, RFC
 * 9562), so that one id names one actor whatever case the client writes it in.
 */
export const UuidInput = Uuid.transform((id) => id.toLowerCase());

/** Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a line break, a tab, an escape sequence for a terminal. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * One line of text that must say something (a title, a name, a seat label, an id we are given): trimmed,
 * then at least one character (the document says so with a pattern, since `minLength` counts the
 * blanks that trimming removes), and no control character inside, which would break the line in a
 * sheet row, a log or a terminal, or show nothing at all.
 */
export const NonBlankText = (max: number) =>
  z.string().trim().min(1).max(max)
    .refine((text) => !CONTROL_CHARACTER.test(text), 'must not contain control characters (a line break, a tab, an escape)')
    .meta({ pattern: '\\S' });

/**
 * A whole number in a JSON body (a count of tickets, of seconds), `min` to `max`, each problem said in
 * the field's terms: zod would also call 2^53 + 1 too big for an "int" (its safe range, 9007199254740991)
 * and 1e309 (Infinity to JSON.parse) not a number.
 */
export const WholeNumber = (min: number, max: number) => {
  const outOfRange = (input: unknown) => (typeof input === 'number' && input < min ? `at least ${min}` : `at most ${max}`);
  return z.number({ error: (issue) => (typeof issue.input === 'number' ? outOfRange(issue.input) : issue.input === undefined ? 'required' : 'a whole number') })
    .int({ error: (issue) => (issue.code === 'invalid_type' ? 'a whole number' : outOfRange(issue.input)) })
    .min(min, `at least ${min}`)
    .max(max, `at most ${max}`);
};

/** A whole number in a query string (`limit`, `page`, `size`), in decimal digits only. */
export const QueryWholeNumber = (min: number, max: number) => decimalWholeNumber(min, max);

/**
 * A seat label as sent: trimmed and in Unicode NFC, so that `é2` names one seat whether the client
 * composed the é or not.
 */
export const SeatLabel = NonBlankText(20).transform((label) => label.normalize('NFC'));
