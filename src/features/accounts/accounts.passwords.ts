/**
 * argon2id with OWASP's first recommended setting (19 MiB, 2 iterations, 1 lane): about 40 ms per hash
 * on one core, so 100 logins/s stay affordable. The parameters are stored in each hash, so changing
 * them later still verifies old hashes.
 */
const ARGON2ID = { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 } as const;

/** The hash to store for a new password. */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, ARGON2ID);
}

let decoy: Promise<string> | undefined;

/**
 * Whether `password` matches `hash`. Without a hash (unknown e-mail) it verifies against a decoy, so
 * that an unknown e-mail costs as much time as a wrong password and cannot be told apart by timing.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  if (hash === undefined) {
    decoy ??= hashPassword(crypto.randomUUID());
    await Bun.password.verify(password, await decoy);
    return false;
  }
  return Bun.password.verify(password, hash);
}
