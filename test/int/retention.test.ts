import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { Store } from '../../src/actors/ports';
import { ManualClock } from '../../src/kernel/clock';
import { createLogger } from '../../src/observability/logger';
import { createRetention, INBOX_RETENTION_MS } from '../../src/messaging/retention';
import { storeHarnesses, type StoreHarness } from '../support/stores';

const NOW = '2030-01-10T00:00:00.000Z';
const at = (msBeforeNow: number) => new Date(Date.parse(NOW) - msBeforeNow).toISOString();

async function addKey(store: Store, key: string, expiresAt: string): Promise<void> {
  await store.execute(
    `INSERT INTO idempotency_keys (scope, key, fingerprint, state, status, body, headers, locked_until, expires_at, created_at)
     VALUES ('anonymous POST /api/shows', $1, 'f', 'completed', 201, '{}', NULL, $2, $2, $2)`,
    [key, expiresAt],
  );
}

async function addInboxRow(store: Store, messageId: string, processedAt: string): Promise<void> {
  await store.execute('INSERT INTO inbox (handler, message_id, processed_at, effect) VALUES ($1, $2, $3, $4)', ['printer', messageId, processedAt, 'local']);
}

const column = async (store: Store, sql: string) => (await store.query<{ v: string }>(sql)).map((row) => row.v).sort();

for (const { name, make } of storeHarnesses) {
  describe(`retention (${name})`, () => {
    let harness: StoreHarness;
    beforeEach(async () => {
      harness = await make();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('deletes idempotency records past their expiry and inbox rows older than the retention, and nothing else', async () => {
      const store = harness.store;
      await addKey(store, 'expired', at(1));
      await addKey(store, 'live', at(-1_000));
      await addInboxRow(store, 'old', at(INBOX_RETENTION_MS + 1));
      await addInboxRow(store, 'recent', at(INBOX_RETENTION_MS - 60_000));
      const retention = createRetention({ db: store, clock: new ManualClock(NOW), logger: createLogger({ level: 'silent' }) });

      expect(await retention.sweep()).toBe(2);
      expect(await column(store, 'SELECT key AS v FROM idempotency_keys')).toEqual(['live']);
      expect(await column(store, 'SELECT message_id AS v FROM inbox')).toEqual(['recent']);
      expect(await retention.sweep()).toBe(0);
    });

    it('deletes a large backlog in batches until none is left', async () => {
      const store = harness.store;
      await store.transaction(async (tx) => {
        for (let i = 0; i < 2_500; i++) {
          await tx.execute(
            `INSERT INTO idempotency_keys (scope, key, fingerprint, state, status, body, headers, locked_until, expires_at, created_at)
             VALUES ('s', $1, 'f', 'completed', 200, '', NULL, $2, $2, $2)`,
            [`k${i}`, at(10)],
          );
        }
      });
      const retention = createRetention({ db: store, clock: new ManualClock(NOW), logger: createLogger({ level: 'silent' }) });
      expect(await retention.sweep()).toBe(2_500);
      expect(await column(store, 'SELECT key AS v FROM idempotency_keys')).toEqual([]);
    });
  });
}
