import { addMs } from './timers';

/**
 * A step check: when an actor that waits for a step's reply asks for the step again, if no reply has
 * come (its command was dead-lettered, say). The commands it asks again carry the step's idempotency
 * key, so asking twice never acts twice.
 */
export interface StepCheck {
  at: string;
  /** The wait before `at`; doubled after each check that finds no reply (up to STEP_CHECK_MAX_MS). */
  afterMs: number;
  /** Checks made so far of the step in flight (absent in actors of earlier versions: none). */
  made?: number;
}

/** The timer that asks again for the step an actor waits for. */
export const STEP_CHECK_TIMER = 'stepCheck';
/**
 * The first wait for a step's reply before it is asked again: well past a handler's retry budget, so
 * that a check finds a command that has given up rather than one still being retried.
 */
export const STEP_CHECK_MS = 60_000;
/** The longest wait between two asks of a step that still has no reply. */
export const STEP_CHECK_MAX_MS = 60 * 60_000;

/** The check of a step asked at `now`. */
export const firstCheck = (now: string): StepCheck => ({ at: addMs(now, STEP_CHECK_MS), afterMs: STEP_CHECK_MS, made: 0 });

/** The check after one, at `now`, that found no reply: twice the wait, up to STEP_CHECK_MAX_MS. */
export const nextCheck = (check: StepCheck | null | undefined, now: string): StepCheck => {
  const afterMs = Math.min((check?.afterMs ?? STEP_CHECK_MS) * 2, STEP_CHECK_MAX_MS);
  return { at: addMs(now, afterMs), afterMs, made: (check?.made ?? 0) + 1 };
};
