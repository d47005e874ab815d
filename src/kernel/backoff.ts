/**
 * Exponential backoff with equal jitter: after the `failures`-th failure, a wait between half and all of
 * min(maxMs, baseMs · 2^(failures−1)). The half that is always waited keeps retries apart; the random
 * half keeps many retriers from waking together.
 */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (failures - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));
