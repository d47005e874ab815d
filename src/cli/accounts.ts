import type { SqlExecutor } from '../actors/ports';
import { createInterface } from 'node:readline';
import { ensureOpsAccount, OpsAccountError, type OpsAccount } from '../features/accounts';
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
  /** Standard input; its first line is the password. */
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
  if (password === '') throw new OpsAccountError('no password given: set OPS_PASSWORD, or give the password on the first line of standard input');
  const account = await ensureOpsAccount({ db: store, clock, ids, email, password });
  write(`ops account ${account.email} ${account.outcome} (user_id ${account.userId})`);
  return account;
}

/**
 * The first line of standard input, as soon as it is typed or piped (not at its end): on a terminal,
 * after a prompt on standard error, so that the command does not sit waiting for Ctrl-D.
 */
export function readFirstLineOfStdin(prompt: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(prompt);
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin, terminal: false });
    let first: string | undefined;
    lines.once('line', (line) => {
      first = line;
      lines.close();
    });
    lines.once('close', () => resolve(first ?? ''));
  });
}
