import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Elysia } from 'elysia';
import type { Clock } from '../kernel/clock';
import { AppError } from '../kernel/errors';
import type { CallerOf } from './idempotency';
import { BEARER_SCHEME, problemResponses } from './openapiProblems';

/** The roles a token can carry: every registered user is a `customer`; `ops` comes from configuration. */
export const ROLES = ['customer', 'ops'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, as the verified access token says. */
export interface AuthUser {
  id: string;
  email: string;
  role: Role;
}

/**
 * Whether the account behind a verified ops token still stands as the token says: it has the ops role
 * and has not changed (a new password) since the token was issued. Tokens are otherwise stateless; this
 * one lookup is made for ops routes only, so that an ops account can be revoked at once.
 */
export type OpsTokenStanding = (user: AuthUser, issuedAt: number) => Promise<boolean>;

/** An access token as the login route returns it. */
export interface IssuedToken {
  token: string;
  /** Lifetime in seconds. */
  expiresIn: number;
}

/** Why a token was refused; the client is only ever told 401. */
export type TokenProblem = 'malformed' | 'algorithm' | 'signature' | 'expired' | 'not_yet_valid' | 'claims';

export type VerifyResult = { ok: true; user: AuthUser } | { ok: false; problem: TokenProblem };

export interface TokenOptions {
  /** The HMAC key (`JWT_SECRET`, or the generated one of embedded mode). */
  secret: string;
  /** The key `secret` replaced (`JWT_PREVIOUS_SECRET`): its tokens still verify until they expire; none is signed with it. */
  previousSecret?: string | undefined;
  clock: Clock;
  /** Lifetime of issued tokens (`JWT_TTL_SECONDS`). */
  ttlSeconds: number;
  /** Clock difference tolerated between instances for `exp`, `nbf` and `iat` (default 30 s). */
  leewaySeconds?: number;
  /** Asked before an ops token is accepted (default: every verified ops token stands). */
  opsStanding?: OpsTokenStanding;
}

/** Issues and verifies the service's access tokens. */
export interface Tokens {
  issue(user: AuthUser): IssuedToken;
  verify(token: string): VerifyResult;
  /** The user of the request's bearer token when it verifies, else undefined (verified once per request). */
  userOf(request: Request): AuthUser | undefined;
  /** Whether the account of a user this object verified still stands (see OpsTokenStanding). */
  opsStanding(user: AuthUser): Promise<boolean>;
  /** Records that the request's route needs a token and admitted it (the `auth` macro calls it). */
  admit(request: Request): void;
  /**
   * For idempotency scopes: `user:<id>` on a route that needs a token and admitted this one;
   * `anonymous` on a route that needs none, whatever token is sent. There an optional token can stop
   * verifying between an attempt and its retry (it expires, the client drops it), and the retry must
   * still find the first attempt's record.
   */
  callerOf: CallerOf;
}

/** `iss` of every token: a token of another service sharing the secret is still refused. */
export const TOKEN_ISSUER = 'tickets';
const HEADER = { alg: 'HS256', typ: 'JWT' } as const;
const ENCODED_HEADER = base64url(JSON.stringify(HEADER));
const DEFAULT_LEEWAY_SECONDS = 30;
const MAX_TOKEN_LENGTH = 4096;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * JWT access tokens, HS256 only (RFC 7519 + RFC 7515). Verification is strict and in this order: three
 * base64url segments; a header whose `alg` is exactly `HS256` (so `none` and every other algorithm are
 * refused before anything else is looked at), `typ` `JWT` and no `crit`; the signature, compared in
 * constant time with the canonical encoding of the expected one under the secret or, during a rotation,
 * the previous secret; then the claims: `iss` is ours, `sub`
 * and `email` are strings, `role` is a known role, `exp` and `iat` are numbers, `exp` is not past,
 * neither `iat` nor `nbf` is in the future (each with the leeway).
 */
export function createTokens(options: TokenOptions): Tokens {
  const { clock, ttlSeconds } = options;
  const key = Buffer.from(options.secret, 'utf8');
  const verifyingKeys = [key, ...(options.previousSecret === undefined ? [] : [Buffer.from(options.previousSecret, 'utf8')])];
  const leeway = options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  const verified = new WeakMap<Request, AuthUser | null>();
  const admitted = new WeakSet<Request>();
  /** The `iat` of each user `verify` returned, kept aside so that AuthUser stays what a token says of its user. */
  const issuedAt = new WeakMap<AuthUser, number>();
  const standing = options.opsStanding ?? (async () => true);
  const sign = (signingInput: string, withKey = key) => createHmac('sha256', withKey).update(signingInput).digest('base64url');
  const signedByOneOfOurs = (signingInput: string, signature: string) => {
    const actual = Buffer.from(signature);
    return verifyingKeys.some((candidate) => {
      const expected = Buffer.from(sign(signingInput, candidate));
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    });
  };

  const verify = (token: string): VerifyResult => {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, problem: 'malformed' };
    const segments = token.split('.');
    if (segments.length !== 3 || !segments.every((s) => SEGMENT.test(s))) return { ok: false, problem: 'malformed' };
    const [encodedHeader, encodedPayload, signature] = segments as [string, string, string];
    const header = decodeJson(encodedHeader);
    if (header === undefined) return { ok: false, problem: 'malformed' };
    if (header.alg !== HEADER.alg || header.typ !== HEADER.typ || 'crit' in header) return { ok: false, problem: 'algorithm' };
    if (!signedByOneOfOurs(`${encodedHeader}.${encodedPayload}`, signature)) return { ok: false, problem: 'signature' };
    const claims = decodeJson(encodedPayload);
    if (claims === undefined) return { ok: false, problem: 'malformed' };
    const { iss, sub, email, role, exp, iat, nbf } = claims;
    if (
      iss !== TOKEN_ISSUER || typeof sub !== 'string' || sub === '' || typeof email !== 'string' ||
      !ROLES.includes(role as Role) || !isTime(exp) || !isTime(iat) || (nbf !== undefined && !isTime(nbf))
    ) {
      return { ok: false, problem: 'claims' };
    }
    const now = clock.now().getTime() / 1000;
    if (now >= exp + leeway) return { ok: false, problem: 'expired' };
    if (iat > now + leeway || (nbf !== undefined && nbf > now + leeway)) return { ok: false, problem: 'not_yet_valid' };
    const user: AuthUser = { id: sub, email, role: role as Role };
    issuedAt.set(user, iat);
    return { ok: true, user };
  };

  const userOf = (request: Request): AuthUser | undefined => {
    let user = verified.get(request);
    if (user === undefined) {
      const token = bearerToken(request);
      const result = token === undefined ? undefined : verify(token);
      user = result?.ok ? result.user : null;
      verified.set(request, user);
    }
    return user ?? undefined;
  };

  return {
    issue(user) {
      const iat = Math.floor(clock.now().getTime() / 1000);
      const payload = base64url(JSON.stringify({ iss: TOKEN_ISSUER, sub: user.id, email: user.email, role: user.role, iat, exp: iat + ttlSeconds }));
      return { token: `${ENCODED_HEADER}.${payload}.${sign(`${ENCODED_HEADER}.${payload}`)}`, expiresIn: ttlSeconds };
    },
    verify,
    userOf,
    opsStanding: async (user) => {
      const iat = issuedAt.get(user);
      return iat !== undefined && standing(user, iat);
    },
    admit: (request) => {
      admitted.add(request);
    },
    callerOf: (request) => {
      const user = admitted.has(request) ? userOf(request) : undefined;
      return user === undefined ? 'anonymous' : `user:${user.id}`;
    },
  };
}

/** `true`: any valid token; a role: a valid token with that role. */
export type AuthRequirement = true | Role;

/** The `WWW-Authenticate` challenge of every 401 (RFC 9110: a 401 must carry one). */
export const REALM = 'Bearer realm="tickets"';

/**
 * The `auth` route option (STYLE.md §5), on top of `tokens`:
 *
 * ```ts
 * .get('/me/bookings', ({ user }) => listBookings(user.id), { auth: true })
 * .post('/events', ({ user, body }) => …, { auth: 'ops' })
 * ```
 *
 * No `Authorization: Bearer` token, or one that does not verify (malformed, tampered, `alg: none`,
 * expired, …): 401 `UNAUTHORIZED` with `WWW-Authenticate`, the same body whatever the reason. A valid
 * token without the required role: 403 `FORBIDDEN`. Both are decided before the request is validated
 * (though after the body is parsed: a body that is not JSON is 400 or 415 first).
 * Otherwise the handler gets `user: { id, email, role }`, taken from the verified token only. On a
 * route with both options, list `rateLimit` first so that rejected tokens count against the limit.
 */
export function createAuth(tokens: Tokens) {
  return new Elysia({ name: 'auth' }).macro({
    auth(requirement: AuthRequirement) {
      return {
        detail: {
          security: [{ [BEARER_SCHEME]: [] }],
          responses: problemResponses({ 401: ['UNAUTHORIZED'], 403: requirement === true ? [] : ['FORBIDDEN'] }),
        },
        // The transform phase runs before validation: a caller without a valid token learns nothing
        // about the body, and gets 401 whatever it sent. A transform hook cannot answer with a
        // Response of its own, hence the throw (mapped by the one error mapper like any AppError).
        async transform({ request }) {
          const user = tokens.userOf(request);
          if (user === undefined) {
            const sent = bearerToken(request) !== undefined;
            throw unauthorized(sent ? 'The bearer token is invalid or expired' : 'This route needs an Authorization: Bearer token', sent);
          }
          if (requirement !== true && user.role !== requirement) {
            throw forbidden(requirement);
          }
          if (requirement === 'ops' && !(await tokens.opsStanding(user))) throw revokedToken();
          tokens.admit(request);
        },
        resolve: ({ request }) => ({ user: tokens.userOf(request) as AuthUser }),
      };
    },
  });
}

/**
 * 401 `UNAUTHORIZED` with its challenge: the realm, and `error="invalid_token"` when a token was sent
 * but does not do (RFC 6750 §3.1), so a client knows to log in again rather than to add a token.
 */
export function unauthorized(detail: string, tokenSent: boolean): AppError {
  return new AppError({ status: 401, code: 'UNAUTHORIZED', detail, headers: { 'www-authenticate': tokenSent ? `${REALM}, error="invalid_token"` : REALM } });
}

/** 403 `FORBIDDEN`: a valid token without the role the route needs. */
export const forbidden = (role: Role) => new AppError({ status: 403, code: 'FORBIDDEN', detail: `This route needs the ${role} role` });

/** 401 for a verified token whose account no longer stands as it says (OpsTokenStanding). */
export const revokedToken = () => unauthorized('The bearer token was issued before its account changed; log in again', true);

/** The `auth` macro, as features receive it. */
export type AuthPlugin = ReturnType<typeof createAuth>;

/**
 * The HMAC key: `JWT_SECRET` when configured; otherwise (embedded mode only, config.ts requires it in
 * distributed mode) a random 256-bit key generated once into `<dataDir>/jwt-secret` (mode 0600), so
 * tokens survive restarts and no instance ever runs with a guessable key.
 */
export async function resolveJwtSecret(options: { jwtSecret: string | undefined; dataDir: string }): Promise<string> {
  if (options.jwtSecret !== undefined) return options.jwtSecret;
  await mkdir(options.dataDir, { recursive: true });
  const path = join(options.dataDir, 'jwt-secret');
  // Written aside and linked into place: a concurrent or interrupted start never sees a partial key.
  const draft = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(draft, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  try {
    await link(draft, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(draft);
  }
  const stored = (await readFile(path, 'utf8')).trim();
  if (stored.length < 32) throw new Error(`${path} holds less than 32 characters; delete it to generate a new key (tokens issued so far become invalid)`);
  return stored;
}

/** A keyed one-way hash (hex), for a secret that must be recognised again but never be kept. */
export type SecretHash = (value: string) => string;

const SECRET_HASH_LABEL = 'tickets secret-hash v1';

/**
 * HMAC-SHA256 under a key derived from the server secret (the JWT key of `resolveJwtSecret`): equal
 * values give equal hashes on every instance sharing the secret, and whoever reads a stored hash
 * cannot test guesses against it without the secret. The key is derived rather than the JWT key
 * itself, so that no value, however chosen, makes this compute a token signature.
 */
export function createSecretHash(secret: string): SecretHash {
  const key = createHmac('sha256', secret).update(SECRET_HASH_LABEL).digest();
  return (value) => createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

function bearerToken(request: Request): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.get('authorization') ?? '');
  return match?.[1];
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
