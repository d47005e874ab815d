import { expect } from 'bun:test';

/** The body of a problem response, as tests read it. */
export type ProblemBody = Record<string, unknown> & { detail: string; errors: Record<string, string[]>; retryable: boolean };

/**
 * Asserts that `response` is the one problem+json shape of API.md with this status and code (every
 * member present, `type` derived from the code, `error` repeating `detail`), and returns its body.
 */
export async function expectProblem(response: Response, status: number, code: string): Promise<ProblemBody> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as ProblemBody;
  expect(body.status).toBe(status);
  expect(body.code).toBe(code);
  expect(typeof body.retryable).toBe('boolean');
  expect(typeof body.errors).toBe('object');
  expect(body.type).toBe(`urn:tickets:problem:${code.toLowerCase().replaceAll('_', '-')}`);
  expect(typeof body.title).toBe('string');
  expect(body.error).toBe(body.detail);
  return body;
}
