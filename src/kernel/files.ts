import { chmodSync, existsSync } from 'node:fs';

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
