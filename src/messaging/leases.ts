import type { SqlExecutor } from '../actors/ports';
import { isoNow, type Clock } from '../kernel/clock';

/** Work of another process holds the lease: refused before anything is done. */
export class LeaseHeldError extends Error {
  override name = 'LeaseHeldError';
}

/**
 * A lease on `name` (table `leases`): at most one holder at a time, across instances and commands. The
 * holder renews it as it goes (`renew`, at least every `staleMs`) and releases it at the end; a lease
 * not renewed for `staleMs` belongs to a process that died (SIGKILL) and is taken over by the next claim.
 */
export interface Lease {
  /** Renews the lease; throws LeaseHeldError when another process took it over meanwhile. */
  renew(db?: SqlExecutor): Promise<void>;
  release(): Promise<void>;
}

/** Claims the lease `name` for `owner`, or throws LeaseHeldError naming who holds it and since when. */
export async function claimLease(db: SqlExecutor, clock: Clock, name: string, owner: string, staleMs: number): Promise<Lease> {
  const now = clock.now();
  const claimed = await db.execute(
    `INSERT INTO leases (name, owner, renewed_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, renewed_at = excluded.renewed_at WHERE leases.renewed_at < $4`,
    [name, owner, now.toISOString(), new Date(now.getTime() - staleMs).toISOString()],
  );
  if (claimed === 0) {
    const [holder] = await db.query<{ owner: string; renewed_at: string }>('SELECT owner, renewed_at FROM leases WHERE name = $1', [name]);
    throw new LeaseHeldError(`${name} is held by ${holder?.owner ?? 'another process'} (last renewed ${holder?.renewed_at ?? 'just now'})`);
  }
  return {
    async renew(on = db) {
      const renewed = await on.execute('UPDATE leases SET renewed_at = $1 WHERE name = $2 AND owner = $3', [isoNow(clock), name, owner]);
      if (renewed === 0) throw new LeaseHeldError(`${name} was taken over by another process`);
    },
    async release() {
      await db.execute('DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner]);
    },
  };
}
