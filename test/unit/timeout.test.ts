import { describe, expect, it } from 'bun:test';
import { settlesWithin, withTimeout } from '../../src/kernel/timeout';

describe('withTimeout', () => {
  it('gives the outcome of work that settles in time, and the timeout error of work that does not', async () => {
    expect(await withTimeout(Promise.resolve(7), 50, () => new Error('late'))).toBe(7);
    expect(await withTimeout(Bun.sleep(200), 10, () => new Error('late')).catch((e: Error) => e.message)).toBe('late');
  });
});

describe('settlesWithin', () => {
  it('says whether work settled, either way, in time', async () => {
    expect(await settlesWithin(Promise.resolve(), 50)).toBe(true);
    expect(await settlesWithin(Promise.reject(new Error('failed')), 50)).toBe(true);
    expect(await settlesWithin(Bun.sleep(200), 10)).toBe(false);
  });
});
