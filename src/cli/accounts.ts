import type { SqlExecutor } from '../actors/ports';
import { ensureOpsAccount, type OpsAccount } from '../features/accounts';
import type { Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';

export interface CreateOpsAccountOptions {
  /** A migrated store. */
  store: SqlExecutor;
  clock: Clock;
  ids: IdSource;
  email: string;
  /** `OPS_PASSWORD` when it is set; the password is then not read from `readPassword`. */
  password: string | undefined;
  /** Everything on standard input; its first line is the password. */
  readPassword: () => Promise<string>;
  /** Where the line of output goes (without the trailing newline). */
  write: (line: string) => void;
}

/**
 * `tickets accounts create-ops <email>`: creates the ops account, or gives the account with that e-mail
 * the ops role and the new password. The password comes from `OPS_PASSWORD` or the first line of
 * standard input (`printf '%s\n' "$PASSWORD" | tickets accounts create-ops ops@example.com`), never from
 * the command line, where other users of the machine could read it. A password that fails the policy
 * rejects with an OpsAccountError before anything is written.
 */
export async function createOpsAccount(options: CreateOpsAccountOptions): Promise<OpsAccount> {
  const { store, clock, ids, email, write } = options;
  const password = options.password ?? (await options.readPassword()).split(/\r?\n/, 1)[0]!;
  const account = await ensureOpsAccount({ db: store, clock, ids, email, password });
  write(`ops account ${account.email} ${account.outcome} (user_id ${account.userId})`);
  return account;
}
