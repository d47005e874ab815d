import { audit, type Logger } from '../../observability/logger';
import { Elysia } from 'elysia';
import type { SqlExecutor } from '../../actors/ports';
import type { Tokens } from '../../http/auth';
import { problem } from '../../http/problem';
import type { RateLimitPlugin } from '../../http/rateLimit';
import type { Clock } from '../../kernel/clock';
import type { IdSource } from '../../kernel/ids';
import { AccessToken, LoginBody, RegisterBody, RegisteredUser } from './accounts.model';
import { hashPassword, verifyPassword } from './accounts.passwords';
import { findUserByEmail, insertUser } from './accounts.queries';

export interface AccountsRoutesDeps {
  store: SqlExecutor;
  clock: Clock;
  ids: IdSource;
  tokens: Tokens;
  rateLimit: RateLimitPlugin;
  logger: Logger;
}

const tags = ['accounts'];

/**
 * `POST /api/auth/register` and `POST /api/auth/login`, both in the `auth` rate-limit class. Neither
 * takes an Idempotency-Key: its record would keep a fast hash of a body holding the password, and a
 * repeated registration answers 409 anyway.
 */
export function accountsRoutes({ store, clock, ids, tokens, rateLimit, logger }: AccountsRoutesDeps) {
  return new Elysia({ name: 'accounts', prefix: '/api/auth' })
    .use(rateLimit)
    .post(
      '/register',
      async ({ body }) => {
        const userId = ids.uuid();
        const user = { user_id: userId, email: body.email, password_hash: await hashPassword(body.password), role: 'customer' as const };
        if (!(await insertUser(store, user, clock.now().toISOString()))) {
          return problem(409, 'EMAIL_ALREADY_REGISTERED', 'An account with this e-mail already exists', { errors: { email: ['is already registered'] } });
        }
        audit(logger, 'account.registered', { user_id: userId, email: body.email });
        return Response.json({ user_id: userId }, { status: 201 });
      },
      {
        body: RegisterBody,
        rateLimit: 'auth',
        response: { 201: RegisteredUser },
        detail: {
          summary: 'Register a customer account',
          description:
            'The e-mail is trimmed and lower-cased. The password needs at least 10 characters from at least two of: lower-case ' +
            'letters, upper-case letters, digits, other characters. Errors: 400 VALIDATION_FAILED, 409 EMAIL_ALREADY_REGISTERED, 429 RATE_LIMITED.',
          tags,
        },
      },
    )
    .post(
      '/login',
      async ({ body }) => {
        const user = await findUserByEmail(store, body.email);
        if (!(await verifyPassword(body.password, user?.password_hash)) || user === null) {
          audit(logger, 'login.failed', { email: body.email });
          return problem(401, 'INVALID_CREDENTIALS', 'The e-mail or the password is wrong');
        }
        audit(logger, 'login.succeeded', { user_id: user.user_id, email: user.email, role: user.role });
        const { token, expiresIn } = tokens.issue({ id: user.user_id, email: user.email, role: user.role });
        // A Response like the problem above: Elysia's types refuse a handler returning a body or a Response.
        return Response.json({ access_token: token, token_type: 'Bearer', expires_in: expiresIn }, { headers: { 'cache-control': 'no-store' } });
      },
      {
        body: LoginBody,
        rateLimit: 'auth',
        response: { 200: AccessToken },
        detail: {
          summary: 'Exchange e-mail and password for an access token',
          description:
            'Send the token as `Authorization: Bearer <access_token>`; it expires after `expires_in` seconds. Errors: 400 VALIDATION_FAILED, ' +
            '401 INVALID_CREDENTIALS (the same for an unknown e-mail and a wrong password), 429 RATE_LIMITED.',
          tags,
        },
      },
    );
}
