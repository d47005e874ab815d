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

/**
 * Now as a reference clock tells it, read by `sync()` and carried forward between reads on the monotonic
 * clock. In distributed mode the reference is the database server, which every instance shares: instances
 * whose machines' clocks disagree then agree on now (to within half the read's round trip), and a step of
 * a machine's clock while it runs (a bad NTP correction, an operator's `date -s`) does not move it. Until
 * the first read it follows the machine's clock; while reads fail it goes on from the last one. It never
 * goes back: a read that would set it back holds it where it is until the reference catches up.
 */
export class ReferenceClock implements Clock {
  /** The reference's time at `anchoredAt` (ms since the epoch). */
  private reference: number;
  /** When the reference was read, on the monotonic clock. */
  private anchoredAt: number;
  private latest = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly read: () => Promise<Date>,
    private readonly monotonic: () => number = () => performance.now(),
    machine: Clock = systemClock,
  ) {
    this.reference = machine.now().getTime();
    this.anchoredAt = this.monotonic();
  }

  now(): Date {
    this.latest = Math.max(this.latest, this.reference + (this.monotonic() - this.anchoredAt));
    return new Date(this.latest);
  }

  /** Reads the reference once and follows it from then on; resolves to the correction made, in ms. */
  async sync(): Promise<number> {
    const sent = this.monotonic();
    const reference = (await this.read()).getTime();
    const received = this.monotonic();
    const before = this.reference + (received - this.anchoredAt);
    // The reference read its clock somewhere within the round trip: taken as its middle.
    this.reference = reference + (received - sent) / 2;
    this.anchoredAt = received;
    return this.reference - before;
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
