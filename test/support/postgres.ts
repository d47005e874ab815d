import pg from 'pg';

/** The server tests create their databases on (`TEST_POSTGRES_URL`; Redis's is in ./redis.ts). */
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  /** Drops the database, disconnecting anyone still on it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_URL} (set TEST_POSTGRES_URL to a server tests may create databases on): ${String(error)}`,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a uniquely named database (`tickets_test_<random>`); throws when PostgreSQL is unreachable.
 * Its text collation is ICU's en-US, as a production server's `en_US.utf8` default sorts, not the byte
 * order of a `C` cluster: an ORDER BY that differs between the two stores shows up in the tests.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tickets_test_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
