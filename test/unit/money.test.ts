import { describe, expect, it } from 'bun:test';
import { MoneyInput, MoneySchema, PriceInput } from '../../src/http/schemas';
import { isIsoCurrency } from '../../src/kernel/money';

describe('money on the wire', () => {
  it('takes the codes of ISO 4217', () => {
    for (const currency of ['GBP', 'EUR', 'USD', 'JPY', 'PLN', 'CHF', 'XAU']) {
      expect(MoneySchema.safeParse({ amount: '50.30', currency }).success).toBe(true);
    }
  });

  it('refuses three upper-case letters that are no ISO 4217 code, naming the field', () => {
    for (const currency of ['XYZ', 'ABC', 'EUX', 'QQQ']) {
      const parsed = MoneySchema.safeParse({ amount: '50.30', currency });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([['currency', 'an ISO 4217 currency code, e.g. "GBP"']]);
    }
    expect(isIsoCurrency('gbp')).toBe(false);
    expect(isIsoCurrency('GBPX')).toBe(false);
  });

  it('reads an amount written with leading zeros in its one canonical form', () => {
    expect(MoneyInput.parse({ amount: '0010.00', currency: 'GBP' })).toEqual({ amount: '10.00', currency: 'GBP' });
    expect(MoneyInput.parse({ amount: '000.50', currency: 'GBP' })).toEqual({ amount: '0.50', currency: 'GBP' });
    expect(PriceInput.parse({ amount: '0007.00', currency: 'JPY' })).toEqual({ amount: '7.00', currency: 'JPY' });
  });

  it('refuses a price finer than its currency has units for, and any price in XXX but 0.00', () => {
    const issues = (price: { amount: string; currency: string }) =>
      PriceInput.safeParse(price).error?.issues.map((issue) => [issue.path.join('.'), issue.message]);
    expect(issues({ amount: '0.50', currency: 'JPY' })).toEqual([['amount', 'JPY has no minor unit: the amount must end in .00']]);
    expect(issues({ amount: '1000.01', currency: 'KRW' })).toEqual([['amount', 'KRW has no minor unit: the amount must end in .00']]);
    expect(issues({ amount: '1.00', currency: 'XXX' })).toEqual([['amount', 'XXX means no currency: only 0.00 (a free seat)']]);
    for (const price of [{ amount: '1000.00', currency: 'JPY' }, { amount: '0.00', currency: 'XXX' }, { amount: '1.25', currency: 'KWD' }, { amount: '0.01', currency: 'EUR' }]) {
      expect(PriceInput.safeParse(price).success).toBe(true);
    }
    // What a ticket provider reports it sold is not ours to refuse: the webhook takes it as sent.
    expect(MoneyInput.safeParse({ amount: '0.50', currency: 'JPY' }).success).toBe(true);
  });
});
