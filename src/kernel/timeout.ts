/**
 * `work`, or a rejection with `timeoutError()` once `ms` have passed without it settling. The work goes
 * on after the timeout; its outcome then concerns no one (a late rejection is not reported as unhandled).
 */
export function withTimeout<T>(work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  work.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Whether `work` settles, either way, within `ms`; it goes on after that either way. */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(work.then(() => true, () => true), ms, () => new Error('not settled in time')).catch(() => false);
}
