import sqliteCore from '../../migrations/sqlite/0001_core.sql' with { type: 'text' };
import postgresCore from '../../migrations/postgres/0001_core.sql' with { type: 'text' };
import sqliteDelivery from '../../migrations/sqlite/0002_delivery.sql' with { type: 'text' };
import postgresDelivery from '../../migrations/postgres/0002_delivery.sql' with { type: 'text' };
import sqliteTickets from '../../migrations/sqlite/0003_tickets.sql' with { type: 'text' };
import postgresTickets from '../../migrations/postgres/0003_tickets.sql' with { type: 'text' };
import sqliteVipBundles from '../../migrations/sqlite/0004_vip_bundles.sql' with { type: 'text' };
import postgresVipBundles from '../../migrations/postgres/0004_vip_bundles.sql' with { type: 'text' };
import sqliteAccounts from '../../migrations/sqlite/0005_accounts.sql' with { type: 'text' };
import postgresAccounts from '../../migrations/postgres/0005_accounts.sql' with { type: 'text' };
import sqliteCatalogue from '../../migrations/sqlite/0006_catalogue.sql' with { type: 'text' };
import postgresCatalogue from '../../migrations/postgres/0006_catalogue.sql' with { type: 'text' };
import sqliteSearch from '../../migrations/sqlite/0007_search.sql' with { type: 'text' };
import postgresSearch from '../../migrations/postgres/0007_search.sql' with { type: 'text' };
import sqliteDebugger from '../../migrations/sqlite/0008_debugger.sql' with { type: 'text' };
import postgresDebugger from '../../migrations/postgres/0008_debugger.sql' with { type: 'text' };
import sqliteHolds from '../../migrations/sqlite/0009_holds.sql' with { type: 'text' };
import postgresHolds from '../../migrations/postgres/0009_holds.sql' with { type: 'text' };
import sqliteDataLakeProjection from '../../migrations/sqlite/0010_data_lake_projection.sql' with { type: 'text' };
import postgresDataLakeProjection from '../../migrations/postgres/0010_data_lake_projection.sql' with { type: 'text' };
import sqliteCustomerBookings from '../../migrations/sqlite/0011_customer_bookings.sql' with { type: 'text' };
import postgresCustomerBookings from '../../migrations/postgres/0011_customer_bookings.sql' with { type: 'text' };
import sqliteSeatLabelOrder from '../../migrations/sqlite/0012_seat_label_order.sql' with { type: 'text' };
import postgresSeatLabelOrder from '../../migrations/postgres/0012_seat_label_order.sql' with { type: 'text' };
import sqliteSoldSeatTickets from '../../migrations/sqlite/0013_sold_seat_tickets.sql' with { type: 'text' };
import postgresSoldSeatTickets from '../../migrations/postgres/0013_sold_seat_tickets.sql' with { type: 'text' };
import sqliteCallsStarted from '../../migrations/sqlite/0014_calls_started.sql' with { type: 'text' };
import postgresCallsStarted from '../../migrations/postgres/0014_calls_started.sql' with { type: 'text' };
import sqliteDeadLetterRedriveLease from '../../migrations/sqlite/0015_dead_letter_redrive_lease.sql' with { type: 'text' };
import postgresDeadLetterRedriveLease from '../../migrations/postgres/0015_dead_letter_redrive_lease.sql' with { type: 'text' };
import sqliteBookingTickets from '../../migrations/sqlite/0016_booking_tickets.sql' with { type: 'text' };
import postgresBookingTickets from '../../migrations/postgres/0016_booking_tickets.sql' with { type: 'text' };
import sqliteVipBundleBookings from '../../migrations/sqlite/0017_vip_bundle_bookings.sql' with { type: 'text' };
import postgresVipBundleBookings from '../../migrations/postgres/0017_vip_bundle_bookings.sql' with { type: 'text' };
import sqliteSeatNaturalOrder from '../../migrations/sqlite/0018_seat_natural_order.sql' with { type: 'text' };
import postgresSeatNaturalOrder from '../../migrations/postgres/0018_seat_natural_order.sql' with { type: 'text' };
import sqliteInboxRetention from '../../migrations/sqlite/0019_inbox_retention.sql' with { type: 'text' };
import postgresInboxRetention from '../../migrations/postgres/0019_inbox_retention.sql' with { type: 'text' };
import sqliteLeases from '../../migrations/sqlite/0020_leases.sql' with { type: 'text' };
import postgresLeases from '../../migrations/postgres/0020_leases.sql' with { type: 'text' };
import sqliteDeliveryLookups from '../../migrations/sqlite/0021_delivery_lookups.sql' with { type: 'text' };
import postgresDeliveryLookups from '../../migrations/postgres/0021_delivery_lookups.sql' with { type: 'text' };
import sqliteTicketsBeforeBooking from '../../migrations/sqlite/0022_tickets_before_booking.sql' with { type: 'text' };
import postgresTicketsBeforeBooking from '../../migrations/postgres/0022_tickets_before_booking.sql' with { type: 'text' };
import sqliteListOrders from '../../migrations/sqlite/0023_list_orders.sql' with { type: 'text' };
import postgresListOrders from '../../migrations/postgres/0023_list_orders.sql' with { type: 'text' };
import sqliteCallOwner from '../../migrations/sqlite/0024_call_owner.sql' with { type: 'text' };
import postgresCallOwner from '../../migrations/postgres/0024_call_owner.sql' with { type: 'text' };

/** One forward-only migration: its name as recorded in `schema_migrations` and the SQL it runs. */
export interface Migration {
  name: string;
  sql: string;
}

/** SQLite migrations in the order they apply. A feature table is one more entry at the end. */
export const sqliteMigrations: readonly Migration[] = [
  { name: '0001_core', sql: sqliteCore },
  { name: '0002_delivery', sql: sqliteDelivery },
  { name: '0003_tickets', sql: sqliteTickets },
  { name: '0004_vip_bundles', sql: sqliteVipBundles },
  { name: '0005_accounts', sql: sqliteAccounts },
  { name: '0006_catalogue', sql: sqliteCatalogue },
  { name: '0007_search', sql: sqliteSearch },
  { name: '0008_debugger', sql: sqliteDebugger },
  { name: '0009_holds', sql: sqliteHolds },
  { name: '0010_data_lake_projection', sql: sqliteDataLakeProjection },
  { name: '0011_customer_bookings', sql: sqliteCustomerBookings },
  { name: '0012_seat_label_order', sql: sqliteSeatLabelOrder },
  { name: '0013_sold_seat_tickets', sql: sqliteSoldSeatTickets },
  { name: '0014_calls_started', sql: sqliteCallsStarted },
  { name: '0015_dead_letter_redrive_lease', sql: sqliteDeadLetterRedriveLease },
  { name: '0016_booking_tickets', sql: sqliteBookingTickets },
  { name: '0017_vip_bundle_bookings', sql: sqliteVipBundleBookings },
  { name: '0018_seat_natural_order', sql: sqliteSeatNaturalOrder },
  { name: '0019_inbox_retention', sql: sqliteInboxRetention },
  { name: '0020_leases', sql: sqliteLeases },
  { name: '0021_delivery_lookups', sql: sqliteDeliveryLookups },
  { name: '0022_tickets_before_booking', sql: sqliteTicketsBeforeBooking },
  { name: '0023_list_orders', sql: sqliteListOrders },
  { name: '0024_call_owner', sql: sqliteCallOwner },
];

/** PostgreSQL migrations in the order they apply; keep the names in step with `sqliteMigrations`. */
export const postgresMigrations: readonly Migration[] = [
  { name: '0001_core', sql: postgresCore },
  { name: '0002_delivery', sql: postgresDelivery },
  { name: '0003_tickets', sql: postgresTickets },
  { name: '0004_vip_bundles', sql: postgresVipBundles },
  { name: '0005_accounts', sql: postgresAccounts },
  { name: '0006_catalogue', sql: postgresCatalogue },
  { name: '0007_search', sql: postgresSearch },
  { name: '0008_debugger', sql: postgresDebugger },
  { name: '0009_holds', sql: postgresHolds },
  { name: '0010_data_lake_projection', sql: postgresDataLakeProjection },
  { name: '0011_customer_bookings', sql: postgresCustomerBookings },
  { name: '0012_seat_label_order', sql: postgresSeatLabelOrder },
  { name: '0013_sold_seat_tickets', sql: postgresSoldSeatTickets },
  { name: '0014_calls_started', sql: postgresCallsStarted },
  { name: '0015_dead_letter_redrive_lease', sql: postgresDeadLetterRedriveLease },
  { name: '0016_booking_tickets', sql: postgresBookingTickets },
  { name: '0017_vip_bundle_bookings', sql: postgresVipBundleBookings },
  { name: '0018_seat_natural_order', sql: postgresSeatNaturalOrder },
  { name: '0019_inbox_retention', sql: postgresInboxRetention },
  { name: '0020_leases', sql: postgresLeases },
  { name: '0021_delivery_lookups', sql: postgresDeliveryLookups },
  { name: '0022_tickets_before_booking', sql: postgresTicketsBeforeBooking },
  { name: '0023_list_orders', sql: postgresListOrders },
  { name: '0024_call_owner', sql: postgresCallOwner },
];

/** Names recorded by applied migrations. `schema_migrations` itself is created by the first migration. */
export const SELECT_APPLIED_MIGRATIONS = 'SELECT name FROM schema_migrations';

/** Records one applied migration; run in the same transaction as its SQL. */
export const RECORD_MIGRATION = 'INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)';

/** The names in `applied` that `all` does not have: a newer version of the service migrated the database. */
export function unknownOf(all: readonly Migration[], applied: Iterable<string>): string[] {
  const known = new Set(all.map((migration) => migration.name));
  return [...applied].filter((name) => !known.has(name)).sort();
}

/** The migrations of `all` whose names are not in `applied`, in order. */
export function pendingOf(all: readonly Migration[], applied: Iterable<string>): Migration[] {
  const done = new Set(applied);
  return all.filter((migration) => !done.has(migration.name));
}
