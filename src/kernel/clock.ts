/** The source of "now". Injected everywhere so that machines, projections and tests are deterministic. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; used by tests to pass deadlines without sleeping. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date | string = '2030-01-01T00:00:00.000Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(to: Date | string): void {
    this.current = new Date(to).getTime();
  }
}

/** RFC 3339 UTC with milliseconds and `Z`: the one time format stored and sent. */
export const isoNow = (clock: Clock): string => clock.now().toISOString();

/**
 * A time from elsewhere (a fact's field, a provider's answer) in the one stored format, so that times
 * compare as text; one that does not parse is kept as given rather than stalling whoever reads it.
 */
export function inStoredFormat(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}
