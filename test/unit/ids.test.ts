import { describe, expect, it } from 'bun:test';
import { randomIds, UUID_PATTERN } from '../../src/kernel/ids';

describe('randomIds', () => {
  it('makes version 7 UUIDs that start with the current millisecond and sort in creation order', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1_000 }, () => randomIds.uuid());
    const after = Date.now();

    for (const id of ids) {
      expect(id).toMatch(UUID_PATTERN);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]!);
    }
    const ms = Number.parseInt(ids[0]!.replaceAll('-', '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
