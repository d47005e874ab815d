import { describe, expect, it } from 'bun:test';
import type { JournalEntry, Message, StoredActor } from '../../src/actors/ports';
import { showActor, StoreNotMigratedError, UnknownActorError, type ActorTimelineStore } from '../../src/cli/actors';

const ADDRESS = 'booking/b1';

function message(id: string, name: string, actorSeq: number): Message {
  return { id, name, kind: 'event', actor: ADDRESS, actorSeq, position: actorSeq, data: {}, metadata: { correlation_id: 'c1' }, occurredAt: '2030-01-01T00:00:00.000Z' };
}

function step(overrides: Partial<JournalEntry>): JournalEntry {
  return {
    address: ADDRESS,
    version: 1,
    event: { type: 'booking.place' },
    fromState: '',
    toState: 'pending',
    snapshot: {},
    messageIds: [],
    rejected: false,
    at: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const ACTOR: StoredActor = {
  address: ADDRESS,
  kind: 'booking',
  machineId: 'booking-v1',
  version: 2,
  lastSeq: 3,
  state: 'confirmed',
  status: 'done',
  snapshot: {},
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:01.000Z',
};

function fakeStore(data: { pending?: string[]; actor?: StoredActor | null; journal?: JournalEntry[]; messages?: Message[] }): ActorTimelineStore {
  return {
    pendingMigrations: async () => data.pending ?? [],
    loadActor: async (address) => (address === ADDRESS ? (data.actor ?? null) : null),
    readJournal: async (address) => (address === ADDRESS ? (data.journal ?? []) : []),
    readActorMessages: async (address) => (address === ADDRESS ? (data.messages ?? []) : []),
  };
}

async function lines(store: ActorTimelineStore, address = ADDRESS): Promise<string[]> {
  const out: string[] = [];
  await showActor({ store, address, write: (line) => out.push(line) });
  return out;
}

describe('showActor', () => {
  it('prints a header and one line per step with its transition and emitted message names', async () => {
    const store = fakeStore({
      actor: ACTOR,
      journal: [
        step({ messageIds: ['m1', 'm2'], correlationId: 'c1' }),
        step({ version: 2, event: { type: 'deadNation.booked' }, fromState: 'pending', toState: 'confirmed', messageIds: ['m3'], at: '2030-01-01T00:00:01.000Z' }),
        step({ version: 2, event: { type: 'booking.cancel' }, fromState: 'confirmed', toState: 'confirmed', rejected: true, snapshot: null, at: '2030-01-01T00:00:02.000Z' }),
      ],
      messages: [message('m1', 'BookingMade_v1', 1), message('m2', 'BookTickets', 2), message('m3', 'BookingConfirmed_v1', 3)],
    });

    expect(await lines(store)).toEqual([
      'booking/b1: machine booking-v1, state confirmed (done), version 2, created 2030-01-01T00:00:00.000Z, updated 2030-01-01T00:00:01.000Z; 3 steps, 3 messages',
      '2030-01-01T00:00:00.000Z  v1  booking.place  (new) → pending  emits BookingMade_v1, BookTickets  [c1]',
      '2030-01-01T00:00:01.000Z  v2  deadNation.booked  pending → confirmed  emits BookingConfirmed_v1',
      '2030-01-01T00:00:02.000Z  v2  booking.cancel  confirmed ✗ rejected',
    ]);
  });

  it('lists messages that no step names', async () => {
    const out = await lines(fakeStore({ actor: ACTOR, journal: [step({})], messages: [message('m9', 'Stray_v1', 1)] }));
    expect(out.slice(-2)).toEqual(['messages no journal step names (1):', '  2030-01-01T00:00:00.000Z  #1 Stray_v1 (event)']);
  });

  it('reads a UUID id in any case, as the API does', async () => {
    const id = '0b9a8c4e-1d2f-4a3b-8c5d-6e7f8a9b0c1d';
    const asked: string[] = [];
    const store: ActorTimelineStore = {
      pendingMigrations: async () => [],
      loadActor: async (address) => (asked.push(address), address === `booking/${id}` ? ACTOR : null),
      readJournal: async () => [],
      readActorMessages: async () => [],
    };
    const out: string[] = [];
    await showActor({ store, address: `booking/${id.toUpperCase()}`, write: (line) => out.push(line) });
    expect(asked).toEqual([`booking/${id}`]);
    expect(out[0]).toStartWith(`booking/${id}: machine booking-v1`);
  });

  it('rejects an address the store knows nothing of', async () => {
    await expect(lines(fakeStore({ actor: ACTOR }), 'booking/nope')).rejects.toBeInstanceOf(UnknownActorError);
  });

  it('refuses to read a store whose migrations are pending', async () => {
    await expect(lines(fakeStore({ pending: ['0001_core'], actor: ACTOR }))).rejects.toBeInstanceOf(StoreNotMigratedError);
  });
});
