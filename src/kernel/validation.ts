import { z } from 'zod';

/**
 * zod's messages as a client reads them in a problem's `errors` (and an operator in a configuration
 * error): a missing field is "required", where zod says "Invalid input: expected string, received
 * undefined". Set once for every schema by importing this module, as src/http/schemas.ts and
 * src/config.ts do; other messages are zod's, or the schema's own.
 */
z.config({ customError: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined) });
