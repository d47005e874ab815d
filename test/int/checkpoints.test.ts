import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { LOG_START } from '../../src/actors/ports';
import { advanceCheckpoint, readCheckpoint } from '../../src/messaging/checkpoints';
import { storeHarnesses, type StoreHarness } from '../support/stores';

const NOW = '2030-01-01T00:00:00.000Z';

for (const { name, make } of storeHarnesses) {
  describe(`checkpoints on ${name}`, () => {
    let harness: StoreHarness;
    beforeEach(async () => {
      harness = await make();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    describe('when a reader is new', () => {
      it('starts at the beginning of the log and records its first advance', async () => {
        const { store } = harness;
        expect(await readCheckpoint(store, 'relay')).toEqual(LOG_START);
        expect(await advanceCheckpoint(store, 'relay', LOG_START, { tx: 5, position: 3 }, NOW)).toBe(true);
        expect(await readCheckpoint(store, 'relay')).toEqual({ tx: 5, position: 3 });
      });

      it('refuses a first advance from a cursor it never had', async () => {
        expect(await advanceCheckpoint(harness.store, 'relay', { tx: 1, position: 1 }, { tx: 5, position: 3 }, NOW)).toBe(false);
        expect(await readCheckpoint(harness.store, 'relay')).toEqual(LOG_START);
      });
    });

    describe('when two readers race', () => {
      it('lets only the one that read the current cursor advance it', async () => {
        const { store } = harness;
        await advanceCheckpoint(store, 'relay', LOG_START, { tx: 1, position: 1 }, NOW);
        expect(await advanceCheckpoint(store, 'relay', { tx: 1, position: 1 }, { tx: 1, position: 2 }, NOW)).toBe(true);
        expect(await advanceCheckpoint(store, 'relay', { tx: 1, position: 1 }, { tx: 1, position: 9 }, NOW)).toBe(false);
        expect(await advanceCheckpoint(store, 'relay', LOG_START, { tx: 1, position: 9 }, NOW)).toBe(false);
        expect(await readCheckpoint(store, 'relay')).toEqual({ tx: 1, position: 2 });
      });
    });
  });
}
