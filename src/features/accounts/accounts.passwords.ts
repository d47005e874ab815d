/**
 * argon2id with OWASP's first recommended setting (19 MiB, 2 iterations, 1 lane): about 40 ms per hash
 * on one core, so 100 logins/s stay affordable. The parameters are stored in each hash, so changing
 * them later still verifies old hashes.
 */
const ARGON2ID = { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 } as const;

/**
 * A password as it is hashed: Unicode NFKC (NIST SP 800-63B), so that `é` typed as one code point or
 * as `e` and a combining accent, on whatever keyboard or system, is the same password.
 */
const normalized = (password: string) => password.normalize('NFKC');

/** The hash to store for a new password. */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(normalized(password), ARGON2ID);
}

let decoy: Promise<string> | undefined;

/**
 * Whether `password` matches `hash`. A hash made before passwords were normalised holds the password
 * as it was typed, so that form is tried too when it differs. Without a hash (unknown e-mail) it
 * verifies against a decoy as often, so that an unknown e-mail costs as much time as a wrong password
 * and cannot be told apart by timing.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const forms = normalized(password) === password ? [password] : [normalized(password), password];
  const against = hash ?? (await (decoy ??= hashPassword(crypto.randomUUID())));
  for (const form of forms) {
    if ((await Bun.password.verify(form, against)) && hash !== undefined) return true;
  }
  return false;
}
