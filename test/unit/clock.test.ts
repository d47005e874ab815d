import { describe, expect, it } from 'bun:test';
import { ManualClock, ReferenceClock } from '../../src/kernel/clock';

/** A reference clock over a monotonic clock and a reference the test moves by hand. */
function referenceClock(options: { referenceAt: string; machineAt?: string; roundTripMs?: number }) {
  let monotonic = 5_000;
  let reference = Date.parse(options.referenceAt);
  let failing = false;
  const clock = new ReferenceClock(
    async () => {
      if (failing) throw new Error('the database does not answer');
      const read = new Date(reference);
      // The answer takes its round trip; the reference's reading was taken in its middle.
      monotonic += options.roundTripMs ?? 0;
      return read;
    },
    () => monotonic,
    new ManualClock(options.machineAt ?? options.referenceAt),
  );
  return {
    clock,
    pass(ms: number) {
      monotonic += ms;
      reference += ms;
    },
    stepReference(ms: number) {
      reference += ms;
    },
    fail(value: boolean) {
      failing = value;
    },
  };
}

describe('ReferenceClock', () => {
  it("follows the machine's clock until its first read, then the reference's, whatever the machine's says", async () => {
    const t = referenceClock({ referenceAt: '2030-01-01T00:00:00.000Z', machineAt: '2030-01-01T00:01:30.000Z' });
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:01:30.000Z');

    // The machine is 90 s ahead. The reading moves the clock to the reference, but never back from a
    // time it has told: it stays there until the reference gets past it.
    t.pass(1_000);
    expect(await t.clock.sync()).toBe(-90_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:01:30.000Z');
    t.pass(89_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:01:30.000Z');
    t.pass(2_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:01:32.000Z');
  });

  it('carries the reading forward on the monotonic clock and counts half the round trip', async () => {
    const t = referenceClock({ referenceAt: '2030-01-01T00:00:00.000Z', roundTripMs: 40 });
    await t.clock.sync();
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:00:00.020Z');
    t.pass(10_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:00:10.020Z');
  });

  it('takes a step of the reference forward at the next read, and goes on from the last reading while reads fail', async () => {
    const t = referenceClock({ referenceAt: '2030-01-01T00:00:00.000Z' });
    await t.clock.sync();
    t.stepReference(3_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(await t.clock.sync()).toBe(3_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:00:03.000Z');

    t.fail(true);
    await expect(t.clock.sync()).rejects.toThrow('the database does not answer');
    t.pass(7_000);
    expect(t.clock.now().toISOString()).toBe('2030-01-01T00:00:10.000Z');
  });
});
