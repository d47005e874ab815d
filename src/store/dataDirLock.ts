import { Database } from 'bun:sqlite';
import { usableDirectory } from '../kernel/files';
import { join } from 'node:path';

/** Another live process holds the lock of this DATA_DIR. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

/** The lock of one DATA_DIR, held until `release` or the end of the process (a crash included). */
export interface DataDirLock {
  release(): void;
}

/**
 * Takes the lock that makes a DATA_DIR one instance's own (DESIGN: exactly one instance per DATA_DIR,
 * whose SQLite store or outbox buffer it holds). The lock is SQLite's exclusive lock on
 * `DATA_DIR/instance.lock`, an operating-system file lock: it goes with the process that holds it, so a
 * killed instance never leaves it behind. Throws DataDirInUseError when a live instance holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  usableDirectory(dataDir);
  const db = new Database(join(dataDir, 'instance.lock'), { create: true, readwrite: true });
  try {
    db.run('PRAGMA busy_timeout = 0');
    db.run('PRAGMA locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; locking_mode EXCLUSIVE keeps it after the commit.
    db.run('CREATE TABLE IF NOT EXISTS held_by (pid INTEGER NOT NULL)');
    db.run('DELETE FROM held_by');
    db.run('INSERT INTO held_by (pid) VALUES (?)', [process.pid]);
  } catch (error) {
    db.close();
    if (String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) {
      throw new DataDirInUseError(`another instance is running with DATA_DIR ${dataDir}: each instance needs its own`);
    }
    throw error;
  }
  return { release: () => db.close() };
}
