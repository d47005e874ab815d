import { describe, expect, it } from 'bun:test';
import { MoneySchema } from '../../src/http/schemas';
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
});
