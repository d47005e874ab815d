import { describe, expect, it } from 'bun:test';
import type { Message } from '../../src/actors/ports';
import { defineProjection, project, type Projection } from '../../src/messaging/projections';
import { reservationsProjection, type ReservationRow } from '../support/projections/reservations.projection';

let position = 0;
function fact(name: string, data: Record<string, unknown>, occurredAt: string): Message {
  position += 1;
  return {
    id: `m-${position}`,
    name,
    kind: /_v\d+$/.test(name) ? 'event' : 'command',
    actor: `reservation/${String(data.reservation_id)}`,
    actorSeq: position,
    position,
    data,
    metadata: { correlation_id: 'corr-1' },
    occurredAt,
  };
}

const opened = (id: string, seats: number, at = '2030-01-01T00:00:00.000Z') =>
  fact('ReservationOpened_v1', { reservation_id: id, seats, expires_at: '2030-01-01T00:01:00.000Z' }, at);
const expired = (id: string, at = '2030-01-01T00:01:00.000Z') => fact('ReservationExpired_v1', { reservation_id: id }, at);
const confirmed = (id: string, at = '2030-01-01T00:00:30.000Z') => fact('ReservationConfirmed_v1', { reservation_id: id }, at);

/** The row of one reservation after these facts, folded through `evolve` alone. */
function given(...facts: Message[]): ReservationRow | null {
  return facts.reduce<ReservationRow | null>((row, f) => reservationsProjection.evolve(row, f, String(f.data.reservation_id)), null);
}

describe('reservations projection', () => {
  describe('when nothing happened yet', () => {
    it('opens a row on ReservationOpened_v1', () => {
      expect(given(opened('r1', 3))).toEqual({
        reservation_id: 'r1',
        seats: 3,
        status: 'open',
        opened_at: '2030-01-01T00:00:00.000Z',
        updated_at: '2030-01-01T00:00:00.000Z',
        history: ['open'],
      });
    });

    it('keeps no row on ReservationExpired_v1 of a reservation it never saw', () => {
      expect(given(expired('r1'))).toBeNull();
    });
  });

  describe('when the reservation is open', () => {
    it('marks it confirmed on ReservationConfirmed_v1, keeping when it opened', () => {
      expect(given(opened('r1', 2), confirmed('r1'))).toEqual({
        reservation_id: 'r1',
        seats: 2,
        status: 'confirmed',
        opened_at: '2030-01-01T00:00:00.000Z',
        updated_at: '2030-01-01T00:00:30.000Z',
        history: ['open', 'confirmed'],
      });
    });

    it('marks it expired on ReservationExpired_v1', () => {
      const row = given(opened('r1', 2), expired('r1'));
      expect(row?.status).toBe('expired');
      expect(row?.updated_at).toBe('2030-01-01T00:01:00.000Z');
      expect(row?.history).toEqual(['open', 'expired']);
    });

    it('returns the same row for a fact it does not handle', () => {
      const row = given(opened('r1', 2));
      expect(reservationsProjection.evolve(row, fact('ChargeCard', { reservation_id: 'r1', seats: 2 }, '2030-01-01T00:00:10.000Z'), 'r1')).toBe(row);
    });
  });

  describe('when facts of several reservations are folded', () => {
    it('gives one row per reservation, like the runner does', () => {
      const rows = project(reservationsProjection, [
        opened('r1', 1),
        opened('r2', 4),
        fact('ChargeCard', { reservation_id: 'r2', seats: 4 }, '2030-01-01T00:00:10.000Z'),
        confirmed('r2'),
        expired('r1'),
      ]);
      expect([...rows.keys()].sort()).toEqual(['r1', 'r2']);
      expect(rows.get('r1')?.status).toBe('expired');
      expect(rows.get('r2')).toMatchObject({ seats: 4, status: 'confirmed', history: ['open', 'confirmed'] });
    });
  });
});

describe('defineProjection', () => {
  const valid: Projection<{ id: string; n: number }> = {
    name: 'counts',
    table: 'counts_view',
    key: 'id',
    columns: { id: 'text', n: 'integer' },
    handles: ['Counted_v1'],
    keyOf: () => 'x',
    evolve: () => null,
  };

  describe('when the definition is valid', () => {
    it('returns it with its indexes defaulted', () => {
      expect(defineProjection(valid).indexes).toEqual({});
    });
  });

  describe('when the definition is not usable', () => {
    it('refuses a table name that is not lowercase snake_case', () => {
      expect(() => defineProjection({ ...valid, table: 'Counts; DROP TABLE actors' })).toThrow(/snake_case/);
    });

    it('refuses a key column that is not text', () => {
      expect(() => defineProjection({ ...valid, key: 'n' })).toThrow(/must be a text column/);
    });

    it('refuses an index on an unknown column', () => {
      expect(() => defineProjection({ ...valid, indexes: { by_x: ['x' as 'n'] } })).toThrow(/unknown column "x"/);
    });

    it('refuses names whose rebuilt index would exceed the Postgres identifier limit', () => {
      expect(() => defineProjection({ ...valid, table: 'a'.repeat(50) })).toThrow(/longer than 63/);
    });
  });
});
