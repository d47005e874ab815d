import { usableDirectory } from '../kernel/files';
import { join } from 'node:path';
import type { Store } from '../actors/ports';
import { openPostgresStore } from './postgres';
import { openSqliteStore } from './sqlite';

export { openPostgresStore, type PostgresStoreOptions } from './postgres';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite';

export interface StoreOptions {
  /** Distributed mode when set. */
  postgresUrl?: string;
  /** Connections of the Postgres pool (requests, handlers, timers and projections share it). */
  postgresPoolSize?: number;
  /** Embedded mode keeps its database at `<dataDir>/tickets.db`; the directory is created if missing. */
  dataDir: string;
  /** Distributed: told when PostgreSQL left a statement unanswered so long that the pool was made again (PostgresStoreOptions.onNoAnswer). */
  onNoAnswer?: (waitedMs: number) => void;
}

/** Opens the store for the configured mode: PostgreSQL when `postgresUrl` is given, else SQLite. Call `migrate()` before use. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.postgresUrl) {
    return openPostgresStore({ url: opts.postgresUrl, ...(opts.postgresPoolSize ? { poolSize: opts.postgresPoolSize } : {}), ...(opts.onNoAnswer ? { onNoAnswer: opts.onNoAnswer } : {}) });
  }
  usableDirectory(opts.dataDir);
  return openSqliteStore({ path: join(opts.dataDir, 'tickets.db') });
}

/** The store was migrated by a newer version of the service: this build must not run against it. */
export class NewerSchemaError extends Error {
  override name = 'NewerSchemaError';
}

/**
 * Refuses a store that a newer version migrated (a rollback, or an old instance left running after an
 * upgrade): this build would write rows the new schema refuses, or miss what the new version reads.
 */
export async function assertNotNewer(store: Pick<Store, 'unknownMigrations'>): Promise<void> {
  const unknown = await store.unknownMigrations();
  if (unknown.length > 0) {
    throw new NewerSchemaError(`the store was migrated by a newer version of the service (${unknown.join(', ')}): run that version, or restore the backup taken before its migration`);
  }
}
