import { describe, expect, it } from 'bun:test';
import { seatsBeingPlaced } from '../../src/features/holds/holds.picks';

const seat = (label: string) => ({ label, price: { amount: '10.00', currency: 'EUR' } });
const free = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6'].map(seat);
const labels = (seats: readonly { label: string | null }[]) => seats.map((s) => s.label);

describe('seats being placed by quantity holds', () => {
  it('gives a pick the first free seats no other pick is placing', () => {
    const placing = seatsBeingPlaced();
    const first = placing.choose('e1', free, 2);
    placing.claim('e1', labels(first) as string[]);
    expect([labels(first), labels(placing.choose('e1', free, 2)), placing.count('e1')]).toEqual([['A1', 'A2'], ['A3', 'A4'], 2]);
  });

  it('falls back to the first free seats of all when too few others are left (the database then decides)', () => {
    const placing = seatsBeingPlaced();
    placing.claim('e1', ['A1', 'A2', 'A3', 'A4', 'A5']);
    expect(labels(placing.choose('e1', free, 2))).toEqual(['A1', 'A2']);
  });

  it('keeps events apart, and forgets a seat once every pick placing it is done', () => {
    const placing = seatsBeingPlaced();
    const done = placing.claim('e1', ['A1']);
    const doneToo = placing.claim('e1', ['A1', 'A2']);
    expect(labels(placing.choose('e2', free, 1))).toEqual(['A1']);
    done();
    expect(labels(placing.choose('e1', free, 1))).toEqual(['A3']);
    doneToo();
    expect([labels(placing.choose('e1', free, 1)), placing.count('e1')]).toEqual([['A1'], 0]);
  });
});
