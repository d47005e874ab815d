import { join } from 'node:path';
import type { Message, NewMessage, Store } from '../../src/actors/ports';
import { openPostgresStore } from '../../src/store/postgres';
import { openSqliteStore } from '../../src/store/sqlite';
import { createTestDatabase } from './postgres';
import { makeTempDir } from './tempDir';

/** A migrated store for one test, a way to really close and reopen it, and its cleanup. */
export interface StoreHarness {
  store: Store;
  /** Closes the current store and opens a new one on the same data (a restart). */
  reopen(): Promise<Store>;
  /** Another store on the same data, as another instance has; closed by `cleanup`. */
  another(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** The one way tests get a store: each harness owns its own SQLite file or Postgres database. */
export const storeHarnesses: ReadonlyArray<{ name: 'sqlite' | 'postgres'; make(): Promise<StoreHarness> }> = [
  {
    name: 'sqlite',
    async make() {
      const dir = makeTempDir('tickets-store-');
      const path = join(dir.path, 'tickets.db');
      return track(() => openSqliteStore({ path }), async () => dir.cleanup());
    },
  },
  {
    name: 'postgres',
    async make() {
      const db = await createTestDatabase();
      return track(() => openPostgresStore({ url: db.url, poolSize: 4 }), () => db.drop());
    },
  },
];

async function track(open: () => Promise<Store>, dispose: () => Promise<void>): Promise<StoreHarness> {
  let current = await open();
  await current.migrate();
  const others: Store[] = [];
  const harness: StoreHarness = {
    store: current,
    async reopen() {
      await current.close();
      current = await open();
      harness.store = current;
      return current;
    },
    async another() {
      const store = await open();
      others.push(store);
      return store;
    },
    async cleanup() {
      for (const store of others.splice(0)) await store.close();
      await current.close();
      await dispose();
    },
  };
  return harness;
}

/** Commits `message` as the first and only fact of a new actor (`message.actor`), as the runtime would. */
export async function commitFirstFact(store: Store, message: NewMessage, state = 'done'): Promise<Message> {
  const [committed] = await store.commit({
    address: message.actor,
    kind: message.actor.split('/')[0]!,
    machineId: `${message.actor.split('/')[0]}-v1`,
    expectedVersion: 0,
    state,
    status: 'active',
    snapshot: {},
    messages: [message],
    timers: { set: [], cancel: [], cancelAll: false },
    journal: { event: { type: 'test.step' }, fromState: 'new', toState: state, messageIds: [message.id], at: message.occurredAt },
    at: message.occurredAt,
  });
  return committed!;
}
