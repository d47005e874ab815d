import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Makes a SQLite database (and its `-wal` and `-shm` files, which SQLite creates with the database's
 * mode) readable and writable by this user only: it holds password hashes, e-mails and idempotency
 * records. Whatever the umask, which would otherwise leave it readable by every local user.
 */
export function ownerOnly(databasePath: string): void {
  for (const path of [databasePath, `${databasePath}-wal`, `${databasePath}-shm`]) {
    if (existsSync(path)) chmodSync(path, 0o600);
  }
}

/**
 * Throws when a file this process opened is gone: an open SQLite file keeps working after it is deleted
 * (DATA_DIR removed or unmounted), but what it writes then is lost at the next start.
 */
export function assertStillThere(path: string, what: string): void {
  if (!existsSync(path)) throw new FileGoneError(`${what} ${path} is gone (was DATA_DIR deleted or unmounted?)`);
}

/** See assertStillThere. */
export class FileGoneError extends Error {
  override name = 'FileGoneError';
}

/**
 * Creates `dir` when missing and checks that files can be made in it, so that a directory this process
 * may not write (a root-owned mount, a read-only file system) fails here with an error naming a path in
 * it, rather than later inside SQLite as "unable to open database file".
 */
export function usableDirectory(dir: string): void {
  // mkdir would say EEXIST ("file already exists"), which reads as if nothing were wrong.
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: ${dir} is a file, not a directory`), { code: 'ENOTDIR', path: dir });
  }
  mkdirSync(dir, { recursive: true });
  const probe = join(dir, `.write-check-${process.pid}`);
  writeFileSync(probe, '');
  rmSync(probe, { force: true });
}

/**
 * How many files (sockets included) this process may open, from Linux's `/proc/self/limits` text (its
 * soft limit, which Bun raises to the hard one at start); undefined when unlimited or not found.
 */
export function openFilesLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+)/m.exec(limits);
  return match ? Number(match[1]) : undefined;
}
