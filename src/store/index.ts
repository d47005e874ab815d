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
}

/** Opens the store for the configured mode: PostgreSQL when `postgresUrl` is given, else SQLite. Call `migrate()` before use. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.postgresUrl) return openPostgresStore({ url: opts.postgresUrl, ...(opts.postgresPoolSize ? { poolSize: opts.postgresPoolSize } : {}) });
  usableDirectory(opts.dataDir);
  return openSqliteStore({ path: join(opts.dataDir, 'tickets.db') });
}
