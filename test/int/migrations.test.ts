import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { jsonParam } from '../../src/actors/ports';
import { seatOrderKey } from '../../src/features/catalogue/catalogue.inventory';
import { postgresMigrations, sqliteMigrations, type Migration } from '../../src/store/migrations';
import { storeHarnesses, type StoreHarness } from '../support/stores';

/** The statements of a migration that change rows, without those that change the schema. */
const dataStatements = (migration: Migration) =>
  migration.sql
    .split(/;\s*\n/)
    .map((statement) => statement.replace(/^--.*$/gm, '').trim())
    .filter((statement) => /^(UPDATE|INSERT|DELETE)\b/i.test(statement));

const migrationNamed = (all: readonly Migration[], name: string) => all.find((m) => m.name === name)!;

for (const { name, make } of storeHarnesses) {
  describe(`migrations on ${name}`, () => {
    let harness: StoreHarness;
    beforeEach(async () => {
      harness = await make();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    describe('when a list is read newest first (0023_list_orders)', () => {
      it('reads the dead letters, and in SQLite the actors, from an index in that order instead of sorting the table', async () => {
        const deadLetters = 'SELECT id FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT 50';
        // The debugger's actor list (debugger.queries.ts), one round of its text search in SQLite.
        const actors = "SELECT address, snapshot FROM actors WHERE (updated_at, address) < ('2030-01-01', 'x') ORDER BY updated_at DESC, address DESC LIMIT 256";
        if (name === 'postgres') {
          const indexes = await harness.store.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'dead_letters'");
          expect(indexes.map((i) => i.indexdef)).toContainEqual(expect.stringContaining('(failed_at, id)'));
          return;
        }
        for (const sql of [deadLetters, actors]) {
          const plan = (await harness.store.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)).map((step) => step.detail);
          expect([sql, plan.some((detail) => /TEMP B-TREE/.test(detail))]).toEqual([sql, false]);
        }
      });
    });

    describe('when 0018_seat_natural_order meets seats listed before it', () => {
      it('gives each seat the order key the service writes for new ones', async () => {
        const labels = ['A1', 'A10', 'A-2', 'Row 2 Seat 10', 'Row 10 Seat 1', '007', 'X', '12345678901', '123456789012', '1234567890123', 'Ü5b', '9a9a'];
        for (const label of labels) {
          await harness.store.execute("INSERT INTO event_seats (event_id, label, label_order, price_amount, price_currency) VALUES ('e1', $1, 'stale', '10.00', 'EUR')", [label]);
        }
        const statements = dataStatements(migrationNamed(name === 'postgres' ? postgresMigrations : sqliteMigrations, '0018_seat_natural_order'));
        expect(statements).toHaveLength(1);
        await harness.store.execute(statements[0]!);
        const rows = await harness.store.query<{ label: string; label_order: string }>('SELECT label, label_order FROM event_seats');
        expect(Object.fromEntries(rows.map((r) => [r.label, r.label_order]))).toEqual(Object.fromEntries(labels.map((label) => [label, seatOrderKey(label)])));
      });
    });

    describe('when 0013_sold_seat_tickets meets seats sold before it', () => {
      const logFact = (id: string, factName: string, data: unknown) =>
        harness.store.execute(
          `INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at) VALUES ($1, $2, 'event', $3, 1, $4, $5, '2030-01-01T00:00:00.000Z')`,
          [id, factName, `thing/${id}`, jsonParam(data), jsonParam({})],
        );
      const seat = (label: string) =>
        harness.store.execute(
          "INSERT INTO event_seats (event_id, label, label_order, price_amount, price_currency, status, hold_id, user_id) VALUES ('e1', $1, $1, '25.00', 'EUR', 'sold', 'h1', 'u1')",
          [label],
        );

      it('gives each its ticket from the sale, frees the seats of tickets already refunded or cancelled, and stops counting them against the buyer', async () => {
        for (const label of ['A1', 'A2', 'A3']) await seat(label);
        await harness.store.execute("INSERT INTO holds (hold_id, event_id, user_id, quantity, status, held_until) VALUES ('h1', 'e1', 'u1', 3, 'sold', '2030-01-01T00:15:00.000Z')");
        await logFact('m1', 'TicketsSold_v1', {
          hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2', 'A3'],
          tickets: [{ ticket_id: 't1', seat: 'A1' }, { ticket_id: 't2', seat: 'A2' }, { ticket_id: 't3', seat: 'A3' }],
        });
        await logFact('m2', 'TicketRefunded_v1', { ticket_id: 't1', booking_id: 'h1' });
        await logFact('m3', 'TicketBookingCanceled_v1', { ticket_id: 't3', booking_id: 'h1' });

        const migration = migrationNamed(name === 'postgres' ? postgresMigrations : sqliteMigrations, '0013_sold_seat_tickets');
        const statements = dataStatements(migration);
        expect(statements).toHaveLength(3);
        for (const statement of statements) await harness.store.execute(statement);

        expect(await harness.store.query('SELECT label, status, hold_id, ticket_id FROM event_seats ORDER BY label')).toEqual([
          { label: 'A1', status: 'available', hold_id: null, ticket_id: null },
          { label: 'A2', status: 'sold', hold_id: 'h1', ticket_id: 't2' },
          { label: 'A3', status: 'available', hold_id: null, ticket_id: null },
        ]);
        expect(await harness.store.query("SELECT quantity, returned FROM holds WHERE hold_id = 'h1'")).toEqual([{ quantity: 3, returned: 2 }]);
      });
    });
  });
}
