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

  it('lets the next occurrence through at once after a reset, counting from there', () => {
    let now = 0;
    const throttle = new Throttle(10_000, () => now);
    expect(throttle.hit()).toBe(1);
    expect(throttle.hit()).toBeUndefined();
    throttle.reset();
    now += 1;
    expect(throttle.hit()).toBe(1);
  });

  it('hands over the count held back without shortening the interval (drain)', () => {
    let now = 0;
    const throttle = new Throttle(10_000, () => now);
    expect(throttle.hit()).toBe(1);
    expect(throttle.hit()).toBeUndefined();
    expect(throttle.hit()).toBeUndefined();
    expect(throttle.drain()).toBe(2);
    expect(throttle.hit()).toBeUndefined();
    now += 10_000;
    expect(throttle.hit()).toBe(2);
  });
});
