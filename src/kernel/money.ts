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
