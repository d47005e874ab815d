import { describe, expect, it } from 'bun:test';
import { keysetAfter, paddedToPowerOfTwo, placeholders, powerOfTwoAtMost, powerOfTwoChunks } from '../../src/kernel/statementShapes';

describe('statement shapes', () => {
  describe('placeholders', () => {
    it('number the bound values from $1, or from where the statement needs them', () => {
      expect(placeholders(3)).toBe('$1, $2, $3');
      expect(placeholders(2, 2)).toBe('$2, $3');
      expect(placeholders(1, 9)).toBe('$9');
    });
  });

  describe('an IN list', () => {
    it('is lengthened to a power of two by repeating its last value', () => {
      expect(paddedToPowerOfTwo(['a'])).toEqual(['a']);
      expect(paddedToPowerOfTwo(['a', 'b'])).toEqual(['a', 'b']);
      expect(paddedToPowerOfTwo(['a', 'b', 'c'])).toEqual(['a', 'b', 'c', 'c']);
      expect(paddedToPowerOfTwo(['a', 'b', 'c', 'd', 'e'])).toEqual(['a', 'b', 'c', 'd', 'e', 'e', 'e', 'e']);
    });

    it('takes only a dozen lengths for every list of 1 to 2 000 values', () => {
      const lengths = new Set(Array.from({ length: 2_000 }, (_, i) => paddedToPowerOfTwo(Array.from({ length: i + 1 }, (_, j) => j)).length));
      expect([...lengths]).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
    });

    it('cannot be empty', () => {
      expect(() => paddedToPowerOfTwo([])).toThrow('at least one value');
    });
  });

  describe('rows cut into chunks', () => {
    it('keeps every row once, in order, in chunks of powers of two no longer than the cap', () => {
      const rows = Array.from({ length: 37 }, (_, i) => i);
      const chunks = powerOfTwoChunks(rows, 20);
      expect(chunks.map((chunk) => chunk.length)).toEqual([16, 16, 4, 1]);
      expect(chunks.flat()).toEqual(rows);
    });

    it('gives nothing for no rows, and caps at the largest power of two within the cap', () => {
      expect(powerOfTwoChunks([], 8)).toEqual([]);
      expect(powerOfTwoAtMost(10_000)).toBe(8_192);
      expect(powerOfTwoAtMost(1)).toBe(1);
    });
  });
});

describe('keysetAfter', () => {
  it('writes the rows after a two-column key as a row comparison, which an index on the two columns starts at, in either order', () => {
    expect(keysetAfter(['start_time', 'show_id'], ['$2', '$3'], 'asc')).toBe('(start_time, show_id) > ($2, $3)');
    expect(keysetAfter(['failed_at', 'id'], ['$1', '$2'], 'desc')).toBe('(failed_at, id) < ($1, $2)');
  });
});
