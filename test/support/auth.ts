import { createTokens, type AuthUser } from '../../src/http/auth';
import { systemClock, type Clock } from '../../src/kernel/clock';
import { TEST_JWT_SECRET, call, type TestService } from './service';

/** Configuration (`env` of startTestService) that makes the service create this ops account at start-up. */
export const OPS_ACCOUNT = { OPS_EMAIL: 'ops@example.com', OPS_PASSWORD: 'Ops-password-2030' } as const;

/** A password that passes the registration policy. */
export const GOOD_PASSWORD = 'Correct-horse-1';

export interface MintOptions {
  /** The service's clock, so that `iat`/`exp` match its idea of now (the system clock by default). */
  clock?: Clock;
  ttlSeconds?: number;
  secret?: string;
}

/**
 * An access token exactly as the service issues it, signed with TEST_JWT_SECRET, for a user that need
 * not exist: the service takes identity from the verified token alone.
 */
export function mintToken(user: Partial<AuthUser> = {}, options: MintOptions = {}): string {
  const tokens = createTokens({ secret: options.secret ?? TEST_JWT_SECRET, clock: options.clock ?? systemClock, ttlSeconds: options.ttlSeconds ?? 3600 });
  const id = user.id ?? crypto.randomUUID();
  return tokens.issue({ id, email: user.email ?? `${id}@example.com`, role: user.role ?? 'customer' }).token;
}

/** `Authorization: Bearer <token>`. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Headers of a caller with `role` (a fresh user), for a test service (its manual clock, if any). */
export function authHeaders(t: Pick<TestService, 'clock'>, user: Partial<AuthUser> = {}): Record<string, string> {
  return bearer(mintToken(user, { clock: t.clock ?? systemClock }));
}

/** Headers of an ops caller for a test service. */
export const opsHeaders = (t: Pick<TestService, 'clock'>) => authHeaders(t, { role: 'ops' });

/** Logs in over HTTP and returns the access token; fails the test when login does not answer 200. */
export async function login(url: string, email: string, password: string): Promise<string> {
  const response = await call(url, 'POST', '/api/auth/login', { email, password });
  if (response.status !== 200) throw new Error(`login of ${email} answered ${response.status}: ${response.text}`);
  return response.json.access_token as string;
}

/** Registers a new customer over HTTP and logs in: its id, e-mail, password and bearer headers. */
export async function registerCustomer(url: string, email = `${crypto.randomUUID()}@example.com`, password = GOOD_PASSWORD) {
  const registered = await call(url, 'POST', '/api/auth/register', { email, password });
  if (registered.status !== 201) throw new Error(`registration of ${email} answered ${registered.status}: ${registered.text}`);
  const token = await login(url, email, password);
  return { userId: registered.json.user_id as string, email, password, token, headers: bearer(token) };
}
