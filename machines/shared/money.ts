/** Money as it appears in facts: a decimal string with two places and an ISO 4217 code. */
export interface Price {
  amount: string;
  currency: string;
}
