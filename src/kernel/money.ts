/** Money on the wire: a decimal string with exactly two places and an ISO 4217 code. */
export interface Money {
  amount: string;
  currency: string;
}

export const MONEY_AMOUNT_PATTERN = /^\d{1,12}\.\d{2}$/;
/** The largest amount MONEY_AMOUNT_PATTERN can write, in minor units (999 999 999 999.99). */
export const MAX_MINOR = 99_999_999_999_999;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;

/**
 * The ISO 4217 codes, current and withdrawn, as the runtime's ICU data knows them: a code outside them
 * is a typo ("EUX") that no receipt or payment could be issued in, so it is refused at the door.
 */
const ISO_CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export const isIsoCurrency = (code: string): boolean => CURRENCY_PATTERN.test(code) && ISO_CURRENCIES.has(code);

/** The decimal places of a currency's minor unit (ISO 4217 as ICU knows it): JPY 0, EUR 2, KWD 3. */
export const minorDigitsOf = (currency: string): number =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;

/** ISO 4217's code for "no currency": the currency of a free seat, whose only price is 0.00. */
export const NO_CURRENCY = 'XXX';

/** An amount of MONEY_AMOUNT_PATTERN in its one written form: no leading zeros (`0010.00` → `10.00`). */
export const canonicalAmount = (amount: string): string => amount.replace(/^0+(?=\d)/, '');

/** Amounts are handled as integer minor units so that sums never drift. */
export const toMinor = (m: Money): number => {
  const [whole, frac] = m.amount.split('.') as [string, string];
  return Number(whole) * 100 + Number(frac);
};

export const fromMinor = (minor: number, currency: string): Money => ({
  amount: `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`,
  currency,
});

/** Sums amounts of one currency; mixing currencies is a programming error. */
export function sumMoney(items: Money[], currency: string): Money {
  let total = 0;
  for (const item of items) {
    if (item.currency !== currency) throw new Error(`cannot add ${item.currency} to ${currency}`);
    total += toMinor(item);
  }
  return fromMinor(total, currency);
}
