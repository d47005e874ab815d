import { describe, expect, it } from 'bun:test';
import { createFilesSimulator } from '../../src/adapters/files/files.sim';
import { createCallLog, RecentMap, SIM_MEMORY } from '../../src/adapters/simulation';
import { ManualClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';

describe('the simulators', () => {
  describe('when they have been sent more than they keep', () => {
    it('keep the last SIM_MEMORY calls in their log, numbered as they came', () => {
      const log = createCallLog();
      for (let i = 0; i < SIM_MEMORY + 5; i++) log.append({ service: 'files', operation: 'putTicketFile', request: { i }, correlationId: null, traceparent: null } as never);
      const calls = log.list();
      expect(calls.length).toBe(SIM_MEMORY);
      expect([calls[0]!.seq, calls.at(-1)!.seq]).toEqual([6, SIM_MEMORY + 5]);
    });

    it('forget their oldest records rather than hold every one (a map past its bound drops the first in)', () => {
      const map = new RecentMap<string, number>(3);
      for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) map.set(key, i);
      expect([...map.keys()]).toEqual(['b', 'c', 'd']);
    });

    it('store at most SIM_MEMORY files: the oldest may be written again', async () => {
      const files = createFilesSimulator({ clock: new ManualClock('2030-01-01T00:00:00.000Z'), ids: randomIds });
      const context = { correlationId: 'c' };
      for (let i = 0; i <= SIM_MEMORY; i++) await files.putTicketFile({ ticket_id: `t${i}`, content: 'x' }, context);
      expect(files.fileNames().length).toBe(SIM_MEMORY);
      expect(files.content('t0-ticket.html')).toBeUndefined();
      expect(files.content(`t${SIM_MEMORY}-ticket.html`)).toBe('x');
    });
  });
});
