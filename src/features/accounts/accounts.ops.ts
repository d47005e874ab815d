import type { SqlExecutor } from '../../actors/ports';
import type { Clock } from '../../kernel/clock';
import type { IdSource } from '../../kernel/ids';
import { OPS_PASSWORD_MIN_LENGTH, passwordProblems } from '../../kernel/passwords';
import { Email } from './accounts.model';
import { hashPassword, verifyPassword } from './accounts.passwords';
import { findUserByEmail, insertUser, updateUser } from './accounts.queries';

/** The ops e-mail or password is not acceptable; nothing was written. */
export class OpsAccountError extends Error {
  override name = 'OpsAccountError';
}

export interface OpsAccountOptions {
  db: SqlExecutor;
  clock: Clock;
  ids: IdSource;
  email: string;
  password: string;
}

export interface OpsAccount {
  userId: string;
  email: string;
  outcome: 'created' | 'updated' | 'unchanged';
}

/**
 * Creates the ops account, or gives the account with that e-mail the role `ops` and this password.
 * Run at every start-up with `OPS_EMAIL`/`OPS_PASSWORD` and by `tickets accounts create-ops`; an
 * account that already has the role and the password is left alone. Concurrent runs (instances
 * starting together) converge: the unique e-mail decides who inserts, the others update.
 */
export async function ensureOpsAccount(options: OpsAccountOptions): Promise<OpsAccount> {
  const { db, clock, ids, password } = options;
  const email = Email.safeParse(options.email);
  if (!email.success) throw new OpsAccountError(`the ops e-mail "${options.email}" is not a valid address`);
  const problems = passwordProblems(password, OPS_PASSWORD_MIN_LENGTH);
  if (problems.length > 0) throw new OpsAccountError(`the ops password ${problems.join('; ')}`);

  const existing = await findUserByEmail(db, email.data);
  if (existing?.role === 'ops' && (await verifyPassword(password, existing.password_hash))) {
    return { userId: existing.user_id, email: email.data, outcome: 'unchanged' };
  }
  const passwordHash = await hashPassword(password);
  const now = clock.now().toISOString();
  if (existing === null) {
    const userId = ids.uuid();
    if (await insertUser(db, { user_id: userId, email: email.data, password_hash: passwordHash, role: 'ops' }, now)) {
      return { userId, email: email.data, outcome: 'created' };
    }
  }
  await updateUser(db, email.data, { password_hash: passwordHash, role: 'ops' }, now);
  const user = await findUserByEmail(db, email.data);
  return { userId: user!.user_id, email: email.data, outcome: 'updated' };
}
