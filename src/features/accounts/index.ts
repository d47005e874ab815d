import type { Feature } from '../feature';
import { accountsRoutes } from './accounts.routes';

export { ensureOpsAccount, OpsAccountError, type OpsAccount } from './accounts.ops';
export { opsTokenStanding } from './accounts.queries';

/** Accounts: registration and login (access tokens); the ops account is ensured by `ensureOpsAccount`. */
export const accountsFeature: Feature = {
  name: 'accounts',
  routes: (deps) => accountsRoutes(deps),
};
