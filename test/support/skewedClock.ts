/**
 * Preloaded into a service process (`bun --preload`) to set its machine's clock CLOCK_SKEW_MS off, as on
 * a machine whose clock is wrong: `Date.now()` and `new Date()` move, the monotonic clock does not.
 */
const skewMs = Number(process.env.CLOCK_SKEW_MS ?? '0');
const MachineDate = Date;

class SkewedDate extends MachineDate {
  constructor(...args: [] | [string | number | Date]) {
    if (args.length === 0) super(MachineDate.now() + skewMs);
    else super(args[0]);
  }

  static override now(): number {
    return MachineDate.now() + skewMs;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
