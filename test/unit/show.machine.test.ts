import { describe, expect, it } from 'bun:test';
import { showMachine } from '../../machines/show/show.machine';
import { given } from '../support/machineHarness';

const created = {
  type: 'show.create', now: '2030-01-01T00:00:00.000Z', show_id: 's1', dead_nation_id: 'dn1', number_of_tickets: 100,
  start_time: '2030-06-01T20:00:00.000Z', title: 'Night', venue: 'Hall',
} as const;

describe('show machine', () => {
  describe('when new', () => {
    it('goes on sale and tells ShowCreated_v1 on show.create', () => {
      const out = given(showMachine).when(created);
      expect(out.state).toBe('onSale');
      expect(out.facts).toEqual([{
        type: 'ShowCreated_v1', show_id: 's1', dead_nation_id: 'dn1', number_of_tickets: 100,
        start_time: '2030-06-01T20:00:00.000Z', title: 'Night', venue: 'Hall', created_at: '2030-01-01T00:00:00.000Z',
      }]);
    });
  });

  describe('when on sale', () => {
    it('rejects a second show.create', () => {
      expect(given(showMachine, created).when(created).rejected).toBe(true);
    });
  });
});
