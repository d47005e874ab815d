import { audit, type Logger } from '../../observability/logger';
import { Elysia } from 'elysia';
import type { Store } from '../../actors/ports';
import { REALM, type SecretHash, type Tokens } from '../../http/auth';
import type { createIdempotency, RedactBody } from '../../http/idempotency';
import { problemResponses } from '../../http/openapiProblems';
import { problem } from '../../http/problem';
import type { RateLimitPlugin } from '../../http/rateLimit';
import type { Clock } from '../../kernel/clock';
import type { IdSource } from '../../kernel/ids';
import { AccessToken, LoginBody, RegisterBody, RegisteredUser } from './accounts.model';
import { hashPassword, verifyPassword } from './accounts.passwords';
import { findUserByEmail, insertUser } from './accounts.queries';

export interface AccountsRoutesDeps {
  store: Store;
  clock: Clock;
  ids: IdSource;
  tokens: Tokens;
  secretHash: SecretHash;
  idempotency: ReturnType<typeof createIdempotency>;
  rateLimit: RateLimitPlugin;
  logger: Logger;
}

const tags = ['accounts'];

/**
 * `POST /api/auth/register` and `POST /api/auth/login`, both in the `auth` rate-limit class. Register
 * takes an Idempotency-Key; its fingerprint sees the password only as a keyed hash (`passwordRedacted`),
 * so the record holds nothing a password can be guessed against offline. Login changes nothing and
 * takes no key.
 */
export function accountsRoutes({ store, clock, ids, tokens, secretHash, idempotency, rateLimit, logger }: AccountsRoutesDeps) {
  return new Elysia({ name: 'accounts', prefix: '/api/auth' })
    .use(rateLimit)
    .use(idempotency)
    .post(
      '/register',
      async ({ body, idempotency }) => {
        const userId = ids.uuid();
        const user = { user_id: userId, email: body.email, password_hash: await hashPassword(body.password), role: 'customer' as const };
        const created = await store.transaction(async (tx) => {
          if (!(await insertUser(tx, user, clock.now().toISOString()))) return undefined;
          return idempotency.complete(tx, 201, { user_id: userId });
        });
        if (created === undefined) {
          return problem(409, 'EMAIL_ALREADY_REGISTERED', 'An account with this e-mail already exists', { errors: { email: ['is already registered'] } });
        }
        audit(logger, 'account.registered', { user_id: userId, email: body.email });
        return created;
      },
      {
        body: RegisterBody,
        rateLimit: 'auth',
        idempotent: { redact: passwordRedacted(secretHash) },
        response: { 201: RegisteredUser },
        detail: {
          summary: 'Register a customer account',
          description:
            'The e-mail is trimmed and lower-cased. The password needs at least 8 characters from at least two of: lower-case ' +
            'letters, upper-case letters, digits, other characters.',
          responses: problemResponses({ 409: ['EMAIL_ALREADY_REGISTERED'] }),
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
          return problem(401, 'INVALID_CREDENTIALS', 'The e-mail or the password is wrong', { headers: { 'www-authenticate': REALM } });
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
            'Send the token as `Authorization: Bearer <access_token>`; it expires after `expires_in` seconds. ' +
            'An unknown e-mail and a wrong password get the same 401.',
          responses: problemResponses({ 401: ['INVALID_CREDENTIALS'] }),
          tags,
        },
      },
    );
}

/**
 * The body to fingerprint: the JSON with `password` replaced by its keyed hash. Any other body is left
 * as it is: it fails validation, which runs before a key is claimed.
 */
function passwordRedacted(secretHash: SecretHash): RedactBody {
  return (rawBody) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody);
    } catch {
      return rawBody;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return rawBody;
    const { password } = parsed as { password?: unknown };
    if (typeof password !== 'string') return rawBody;
    return JSON.stringify({ ...parsed, password: secretHash(password) });
  };
}
