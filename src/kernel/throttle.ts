/**
 * Lets a repeated occurrence through at most once every `everyMs` and counts the ones in between: an
 * outage that fails every request or probe is then one log line per interval, saying how many failed.
 */
export class Throttle {
  private passedAt = Number.NEGATIVE_INFINITY;
  private counted = 0;

  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one occurrence. Let through: how many were counted since the last one let through, this one included; held back: undefined. */
  hit(): number | undefined {
    this.counted += 1;
    const now = this.now();
    if (now - this.passedAt < this.everyMs) return undefined;
    this.passedAt = now;
    const counted = this.counted;
    this.counted = 0;
    return counted;
  }

  /** Takes the count of the occurrences held back since the last one let through (to report them elsewhere); the interval goes on. */
  drain(): number {
    const heldBack = this.counted;
    this.counted = 0;
    return heldBack;
  }

  /** Starts afresh (the outage is over): the next occurrence is let through. */
  reset(): void {
    this.passedAt = Number.NEGATIVE_INFINITY;
    this.counted = 0;
  }
}
