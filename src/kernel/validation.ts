import { z } from 'zod';

/**
 * The values of a query parameter given more than once (`?limit=1&limit=2`). Every parameter this API
 * reads is one value: a schema refuses the list, and the message says why.
 */
export class RepeatedParameter extends Array<string> {
  /** The first two values of the parameter (the list grows by `push`). */
  static firstTwo(first: string, second: string): RepeatedParameter {
    const values = new RepeatedParameter();
    values.push(first, second);
    return values;
  }
}

/**
 * zod's messages as a client reads them in a problem's `errors` (and an operator in a configuration
 * error): a missing field is "required", where zod says "Invalid input: expected string, received
 * undefined", a repeated query parameter "given more than once" (not "received array"), and the bounds
 * of a list or a text as the bounds of counts read ("at most 1000 items", "at most 200 characters"), not
 * "Too big: expected array to have <=1000 items". Set once for every schema by importing this module, as
 * src/http/schemas.ts and src/config.ts do; other messages are zod's, or the schema's own.
 */
z.config({
  customError: (issue) => {
    if ((issue.code === 'too_big' || issue.code === 'too_small') && (issue.origin === 'array' || issue.origin === 'string')) {
      const unit = issue.origin === 'array' ? 'item' : 'character';
      const [bound, limit] = issue.code === 'too_big' ? ['at most', issue.maximum] : ['at least', issue.minimum];
      return `${bound} ${limit} ${unit}${Number(limit) === 1 ? '' : 's'}`;
    }
    if (issue.code !== 'invalid_type') return undefined;
    if (issue.input === undefined) return 'required';
    return issue.input instanceof RepeatedParameter ? 'given more than once' : undefined;
  },
});
