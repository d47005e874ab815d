import { describe, expect, it } from 'bun:test';
import { Glob } from 'bun';
import { join } from 'node:path';
import type { Message } from '../../src/actors/ports';
import { ALL_FACTS, dataLakeProjection } from '../../src/features/dataLake';
import { project } from '../../src/messaging/projections';

const MACHINES = join(import.meta.dir, '../../machines');

/** The fact names a machine's source emits: every `type: '<Name>_v<N>'`. */
async function factsEmittedByMachines(): Promise<string[]> {
  const names = new Set<string>();
  for await (const file of new Glob('**/*.machine.ts').scan(MACHINES)) {
    const source = await Bun.file(join(MACHINES, file)).text();
    for (const match of source.matchAll(/type: '([A-Z][A-Za-z]*_v\d+)'/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

const made: Message = {
  id: 'm-1',
  name: 'BookingMade_v1',
  kind: 'event',
  actor: 'booking/b1',
  actorSeq: 1,
  position: 7,
  data: { booking_id: 'b1', show_id: 's1', number_of_tickets: 2 },
  metadata: { correlation_id: 'corr-1', idempotency_key: 'key-1' },
  occurredAt: '2030-01-01T10:00:00.000Z',
};
const placed: Message = { ...made, id: 'm-2', name: 'BookingPlaced_v1', actorSeq: 2, position: 9, data: { booking_id: 'b1' }, metadata: { correlation_id: 'corr-1' }, occurredAt: '2030-01-01T10:00:01.000Z' };
const command: Message = { ...made, id: 'm-3', name: 'booking.place', kind: 'command', actorSeq: 3, position: 10 };

describe('the data lake', () => {
  it('keeps each fact once, as its wire body with the commit time as published_at, and no commands', () => {
    const rows = project(dataLakeProjection, [made, placed, made, command]);

    expect([...rows.values()]).toEqual([
      {
        message_id: 'm-1', name: 'BookingMade_v1', actor: 'booking/b1', position: 7, occurred_at: '2030-01-01T10:00:00.000Z',
        payload: { header: { id: 'm-1', published_at: '2030-01-01T10:00:00.000Z', idempotency_key: 'key-1-booking/b1-1' }, booking_id: 'b1', show_id: 's1', number_of_tickets: 2 },
      },
      {
        message_id: 'm-2', name: 'BookingPlaced_v1', actor: 'booking/b1', position: 9, occurred_at: '2030-01-01T10:00:01.000Z',
        payload: { header: { id: 'm-2', published_at: '2030-01-01T10:00:01.000Z', idempotency_key: 'm-2' }, booking_id: 'b1' },
      },
    ]);
  });

  it('projects every fact a machine emits, so that a new fact cannot be forgotten', async () => {
    const emitted = await factsEmittedByMachines();
    // A scan that found nothing would make this test pass for nothing.
    expect(emitted).toContain('BookingMade_v1');
    expect(emitted.filter((name) => !(ALL_FACTS as readonly string[]).includes(name))).toEqual([]);
  });
});
