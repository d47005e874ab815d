import type { SqlExecutor } from '../../actors/ports';
import type { AuthUser, Role } from '../../http/auth';

/** A row of `users`. */
export interface UserRow {
  user_id: string;
  email: string;
  password_hash: string;
  role: Role;
}

/** The user with this (normalised) e-mail, or null. */
export async function findUserByEmail(db: SqlExecutor, email: string): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>('SELECT user_id, email, password_hash, role FROM users WHERE email = $1', [email]);
  return row ?? null;
}

/** Inserts a user; false when the e-mail is taken (the unique constraint decides, not a prior read). */
export async function insertUser(db: SqlExecutor, user: UserRow, now: string): Promise<boolean> {
  const inserted = await db.execute(
    `INSERT INTO users (user_id, email, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (email) DO NOTHING`,
    [user.user_id, user.email, user.password_hash, user.role, now],
  );
  return inserted === 1;
}

/** Gives the user with this e-mail a new password hash and role. */
export async function updateUser(db: SqlExecutor, email: string, change: { password_hash: string; role: Role }, now: string): Promise<void> {
  await db.execute('UPDATE users SET password_hash = $1, role = $2, updated_at = $3 WHERE email = $4', [change.password_hash, change.role, now, email]);
}

/**
 * An ops token stands while its account, when the store has it, still has the ops role and has not
 * changed since the token was issued (`iat` is in whole seconds: a change in the token's own second
 * leaves it standing). A token of an account the store does not have is taken as it says, as tokens
 * are everywhere else.
 */
export const opsTokenStanding = (db: SqlExecutor) => async (user: AuthUser, issuedAt: number): Promise<boolean> => {
  const [row] = await db.query<{ role: Role; updated_at: string }>('SELECT role, updated_at FROM users WHERE user_id = $1', [user.id]);
  if (row === undefined) return true;
  return row.role === 'ops' && Math.floor(Date.parse(row.updated_at) / 1000) <= issuedAt;
};
