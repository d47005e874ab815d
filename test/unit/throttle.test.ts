import { describe, expect, it } from 'bun:test';
import { Throttle } from '../../src/kernel/throttle';

describe('Throttle', () => {
  it('lets the first occurrence through, holds back the rest of the interval, then reports how many there were', () => {
    let now = 1_000;
    const throttle = new Throttle(10_000, () => now);
    expect(throttle.hit()).toBe(1);
    now += 4_000;
    expect(throttle.hit()).toBeUndefined();
    now += 5_999;
    expect(throttle.hit()).toBeUndefined();
    now += 1;
    expect(throttle.hit()).toBe(3);
    expect(throttle.hit()).toBeUndefined();
  });

  it('lets the next occurrence through at once after a reset, which says how many it held back', () => {
    let now = 0;
    const throttle = new Throttle(10_000, () => now);
    expect(throttle.hit()).toBe(1);
    expect(throttle.hit()).toBeUndefined();
    expect(throttle.hit()).toBeUndefined();
    expect(throttle.reset()).toBe(2);
    now += 1;
    expect(throttle.hit()).toBe(1);
  });
});
