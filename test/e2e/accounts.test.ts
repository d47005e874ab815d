import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { Elysia } from 'elysia';
import { createOpsAccount } from '../../src/cli/accounts';
import { OpsAccountError } from '../../src/features/accounts';
import type { Feature } from '../../src/features/feature';
import { ManualClock, systemClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { bearer, GOOD_PASSWORD, login, mintToken, OPS_ACCOUNT, registerCustomer } from '../support/auth';
import { MODES, TEST_JWT_SECRET, call, startTestService, type TestService } from '../support/service';

const OPS_ROUTE = '/api/ops/dead-letters';

/**
 * A feature of the test only: `auth: true` and `rateLimit: 'holds'` routes, as a holds feature would
 * declare them, answering with the user the route sees.
 */
const probeFeature: Feature = {
  name: 'authProbe',
  routes: ({ auth, rateLimit, idempotency }) =>
    new Elysia({ name: 'auth-probe', prefix: '/test' })
      .use(rateLimit)
      .use(auth)
      .use(idempotency)
      .post('/whoami', ({ user }) => Response.json(user), { auth: true })
      .post('/hold', ({ user }) => Response.json(user), { rateLimit: 'holds', auth: true })
      .post('/once', ({ user }) => Response.json({ user_id: user.id, answer: crypto.randomUUID() }, { status: 201 }), { auth: true, idempotent: true }),
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const loginAttempt = (url: string, email: string, password: string, headers: Record<string, string> = {}) =>
  call(url, 'POST', '/api/auth/login', { email, password }, headers);

async function expectProblem(response: Awaited<ReturnType<typeof call>>, status: number, code: string) {
  expect({ status: response.status, code: response.json?.code }).toEqual({ status, code });
  expect(response.headers.get('content-type')).toBe('application/problem+json');
}

for (const mode of MODES) {
  describe(`accounts and auth (${mode})`, () => {
    let t: TestService;
    beforeAll(async () => {
      t = await startTestService(mode, { env: OPS_ACCOUNT, features: [probeFeature] });
    });
    afterAll(async () => {
      await t.close();
    });

    describe('when a customer registers', () => {
      it('answers 201 with a user id, stores the e-mail trimmed and lower-cased, and logs in with it', async () => {
        const registered = await call(t.url, 'POST', '/api/auth/register', { email: '  Ann.Lee@Example.COM ', password: GOOD_PASSWORD });
        expect(registered.status).toBe(201);
        expect(registered.json).toEqual({ user_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });

        const loggedIn = await loginAttempt(t.url, 'ANN.LEE@example.com', GOOD_PASSWORD);
        expect(loggedIn.status).toBe(200);
        expect(loggedIn.json).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });
        expect(loggedIn.headers.get('cache-control')).toBe('no-store');
        expect(claimsOf(loggedIn.json.access_token)).toMatchObject({ sub: registered.json.user_id, email: 'ann.lee@example.com', role: 'customer' });
      });

      it('refuses the same e-mail in another case with 409', async () => {
        await registerCustomer(t.url, 'dup@example.com');
        const again = await call(t.url, 'POST', '/api/auth/register', { email: 'DUP@example.com ', password: 'Another-pass-2' });
        await expectProblem(again, 409, 'EMAIL_ALREADY_REGISTERED');
        expect(await loginAttempt(t.url, 'dup@example.com', 'Another-pass-2').then((r) => r.status)).toBe(401);
      });

      it('refuses an empty or weak password and a bad e-mail with 400 and field errors', async () => {
        for (const password of ['', 'Sh0rt!', 'onlylowercaseletters', '12345678901234', '          ']) {
          const refused = await call(t.url, 'POST', '/api/auth/register', { email: `${crypto.randomUUID()}@example.com`, password });
          await expectProblem(refused, 400, 'VALIDATION_FAILED');
          expect(Object.keys(refused.json.errors)).toEqual(['password']);
        }
        const badEmail = await call(t.url, 'POST', '/api/auth/register', { email: 'not-an-email', password: GOOD_PASSWORD });
        expect(Object.keys(badEmail.json.errors)).toEqual(['email']);
        // Longer than mail can be delivered to (RFC 5321): the part before the @, a domain label, the whole.
        for (const email of [`${'a'.repeat(65)}@example.com`, `ann@${'d'.repeat(64)}.com`, `${'a'.repeat(60)}@${['d', 'e', 'f', 'g'].map((c) => c.repeat(60)).join('.')}.com`]) {
          const tooLong = await call(t.url, 'POST', '/api/auth/register', { email, password: GOOD_PASSWORD });
          expect([email.length, tooLong.status, Object.keys(tooLong.json.errors)]).toEqual([email.length, 400, ['email']]);
        }
        expect((await call(t.url, 'POST', '/api/auth/register', { email: `${'a'.repeat(64)}@example.com`, password: GOOD_PASSWORD })).status).toBe(201);
        expect((await call(t.url, 'POST', '/api/auth/register', {})).status).toBe(400);
      });

      it('makes every new account a customer, whatever the body says', async () => {
        const email = `${crypto.randomUUID()}@example.com`;
        const registered = await call(t.url, 'POST', '/api/auth/register', { email, password: GOOD_PASSWORD, role: 'ops', user_id: 'chosen' });
        expect(registered.json.user_id).not.toBe('chosen');
        const token = await login(t.url, email, GOOD_PASSWORD);
        expect(claimsOf(token).role).toBe('customer');
        await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(token)), 403, 'FORBIDDEN');
      });
    });

    describe('when a customer registers with an Idempotency-Key', () => {
      const register = (body: Record<string, string>, headers: Record<string, string> = {}) => call(t.url, 'POST', '/api/auth/register', body, headers);
      const newAccount = () => ({ email: `${crypto.randomUUID()}@example.com`, password: `Unguessable-${crypto.randomUUID()}` });
      const accountIds = async (email: string) =>
        (await t.service.store.query<{ user_id: string }>('SELECT user_id FROM users WHERE email = $1', [email])).map((row) => row.user_id);

      it('creates one account and replays its answer on a repeat with the same body', async () => {
        const account = newAccount();
        const key = { 'Idempotency-Key': crypto.randomUUID() };
        const first = await register(account, key);
        const repeat = await register(account, key);

        expect([first.status, repeat.status]).toEqual([201, 201]);
        expect(first.json).toEqual({ user_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
        expect(repeat.json).toEqual(first.json);
        expect(first.headers.get('idempotent-replayed')).toBeNull();
        expect(repeat.headers.get('idempotent-replayed')).toBe('true');
        expect(await accountIds(account.email)).toEqual([first.json.user_id]);
        expect(claimsOf(await login(t.url, account.email, account.password)).sub).toBe(first.json.user_id);
        await expectProblem(await register(account), 409, 'EMAIL_ALREADY_REGISTERED');
      });

      it('accepts X-Idempotency-Key as well', async () => {
        const account = newAccount();
        const key = { 'X-Idempotency-Key': crypto.randomUUID() };
        const first = await register(account, key);
        const repeat = await register(account, key);

        expect([first.status, repeat.status]).toEqual([201, 201]);
        expect(repeat.json).toEqual(first.json);
        expect(repeat.headers.get('idempotent-replayed')).toBe('true');
        expect(await accountIds(account.email)).toEqual([first.json.user_id]);
      });

      it('refuses the same key with another password with 422 IDEMPOTENCY_KEY_REUSED', async () => {
        const account = newAccount();
        const key = { 'Idempotency-Key': crypto.randomUUID() };
        expect((await register(account, key)).status).toBe(201);

        const reused = await register({ ...account, password: `${account.password}x` }, key);
        await expectProblem(reused, 422, 'IDEMPOTENCY_KEY_REUSED');
        expect((await loginAttempt(t.url, account.email, `${account.password}x`)).status).toBe(401);
        expect((await loginAttempt(t.url, account.email, account.password)).status).toBe(200);
      });

      it('answers a concurrent repeat with 409 REQUEST_IN_PROGRESS or the replay, and creates one account', async () => {
        const account = newAccount();
        const key = { 'Idempotency-Key': crypto.randomUUID() };
        const answers = await Promise.all([register(account, key), register(account, key)]);

        const created = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
        expect(created).toHaveLength(1);
        for (const other of answers.filter((a) => a !== created[0])) {
          if (other.status === 201) expect(other.json).toEqual(created[0]!.json);
          else await expectProblem(other, 409, 'REQUEST_IN_PROGRESS');
        }
        expect(await accountIds(account.email)).toEqual([created[0]!.json.user_id]);
      });

      it('stores the user id only, and nothing the password could be guessed from', async () => {
        const account = newAccount();
        const key = crypto.randomUUID();
        const registered = await register(account, { 'Idempotency-Key': key });
        expect(registered.status).toBe(201);

        const rows = await t.service.store.query<Record<string, unknown>>('SELECT * FROM idempotency_keys WHERE key = $1', [key]);
        expect(rows).toHaveLength(1);
        const row = rows[0]!;
        expect(JSON.parse(String(row.body))).toEqual({ user_id: registered.json.user_id });
        const sha256 = (text: string) => createHash('sha256').update(text);
        const forbidden = [
          account.password,
          sha256(account.password).digest('hex'),
          sha256(account.password).digest('base64'),
          // The fingerprint of the raw body: a fast hash that a guessed password can be tested against.
          sha256(`POST\n/api/auth/register\n${JSON.stringify(account)}`).digest('hex'),
          // The same with the password replaced by its plain sha256: as fast to test guesses against.
          sha256(`POST\n/api/auth/register\n${JSON.stringify({ ...account, password: sha256(account.password).digest('hex') })}`).digest('hex'),
        ];
        for (const [column, value] of Object.entries(row)) {
          const stored = typeof value === 'string' ? value : JSON.stringify(value);
          for (const secret of forbidden) expect({ column, contains: stored.includes(secret) }).toEqual({ column, contains: false });
        }
      });
    });

    describe('when a login fails', () => {
      it('answers the same 401 for an unknown e-mail and a wrong password', async () => {
        const { email } = await registerCustomer(t.url);
        const unknown = await loginAttempt(t.url, `nobody-${email}`, GOOD_PASSWORD);
        const wrong = await loginAttempt(t.url, email, `${GOOD_PASSWORD}x`);

        await expectProblem(unknown, 401, 'INVALID_CREDENTIALS');
        expect(wrong.status).toBe(unknown.status);
        expect(wrong.json).toEqual(unknown.json);
        // RFC 9110: every 401 names the scheme that would get the client in.
        expect([unknown.headers.get('www-authenticate'), wrong.headers.get('www-authenticate')]).toEqual(['Bearer realm="tickets"', 'Bearer realm="tickets"']);
      });

      it('answers 400 to a body without e-mail or password', async () => {
        await expectProblem(await call(t.url, 'POST', '/api/auth/login', { email: 'a@example.com' }), 400, 'VALIDATION_FAILED');
        await expectProblem(await call(t.url, 'POST', '/api/auth/login', { email: 'a@example.com', password: '' }), 400, 'VALIDATION_FAILED');
      });
    });

    describe('when a route needs a token', () => {
      it('answers 401 with WWW-Authenticate when there is none', async () => {
        const missing = await call(t.url, 'GET', OPS_ROUTE);
        await expectProblem(missing, 401, 'UNAUTHORIZED');
        expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="tickets"');
        await expectProblem(await call(t.url, 'POST', '/test/whoami', { not: 'validated' }), 401, 'UNAUTHORIZED');
      });

      it('answers 401 to an expired token', async () => {
        const twoHoursAgo = new ManualClock(new Date(Date.now() - 2 * 3600_000));
        const expired = await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(mintToken({ role: 'ops' }, { clock: twoHoursAgo })));
        await expectProblem(expired, 401, 'UNAUTHORIZED');
        expect(expired.headers.get('www-authenticate')).toBe('Bearer realm="tickets", error="invalid_token"');
      });

      it('answers 401 to a tampered token (customer made ops) and to one signed with another key', async () => {
        const { token } = await registerCustomer(t.url);
        const [header, , signature] = token.split('.');
        const promoted = `${header}.${b64({ ...claimsOf(token), role: 'ops' })}.${signature}`;
        await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(promoted)), 401, 'UNAUTHORIZED');
        const forged = mintToken({ role: 'ops' }, { secret: 'an-attackers-guess-0123456789abcdef' });
        await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(forged)), 401, 'UNAUTHORIZED');
      });

      it('answers 401 to alg none, unsigned or with a signature, and to another algorithm', async () => {
        const claims = claimsOf(mintToken({ role: 'ops' }));
        const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}`;
        const hs512Input = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64(claims)}`;
        const hs512 = `${hs512Input}.${createHmac('sha512', TEST_JWT_SECRET).update(hs512Input).digest('base64url')}`;
        for (const token of [`${none}.`, `${none}.${createHmac('sha256', TEST_JWT_SECRET).update(none).digest('base64url')}`, hs512, 'not-a-jwt']) {
          await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(token)), 401, 'UNAUTHORIZED');
        }
      });

      it('takes the identity from the verified token only, never from the body', async () => {
        const { userId, email, headers } = await registerCustomer(t.url);
        const seen = await call(t.url, 'POST', '/test/whoami', { id: 'someone-else', role: 'ops' }, headers);
        expect(seen.json).toEqual({ id: userId, email, role: 'customer' });
      });

      it('scopes idempotency keys to the verified caller on a route that needs a token', async () => {
        const once = (token: string) => call(t.url, 'POST', '/test/once', {}, { 'Idempotency-Key': 'same-key', ...bearer(token) });
        const ann = mintToken();
        const first = await once(ann);
        const again = await once(ann);
        const other = await once(mintToken());
        expect([first.status, again.status, again.headers.get('idempotent-replayed'), again.json]).toEqual([201, 201, 'true', first.json]);
        expect(other.status).toBe(201);
        expect(other.headers.get('idempotent-replayed')).toBeNull();
        expect(other.json.answer).not.toBe(first.json.answer);
      });

      it('replays a retry on a route that needs no token whatever token it carries: one that has expired since, a bad one or none', async () => {
        const show = { dead_nation_id: crypto.randomUUID(), number_of_tickets: 5, start_time: '2099-01-01T20:00:00Z', title: 'Night', venue: 'Hall' };
        const created = (await call(t.url, 'POST', '/api/shows', show)).json.show_id as string;
        const booking = { show_id: created, number_of_tickets: 2, customer_email: 'ann@example.com' };
        const book = (headers: Record<string, string>) => call(t.url, 'POST', '/api/book-tickets', booking, { 'Idempotency-Key': 'book-retry', ...headers });
        const ann = { id: crypto.randomUUID() };
        const first = await book(bearer(mintToken(ann)));
        expect(first.status).toBe(201);
        // The same user's token, issued two hours ago for one hour: it expired between the two attempts.
        const expired = mintToken(ann, { clock: new ManualClock(new Date(Date.now() - 7_200_000)) });
        for (const headers of [bearer(expired), bearer('not-a-jwt'), {}, bearer(mintToken())]) {
          const retry = await book(headers);
          expect([retry.status, retry.headers.get('idempotent-replayed'), retry.json]).toEqual([201, 'true', first.json]);
        }
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === created);
        expect(listed.available_tickets).toBe(3);
      });
    });

    describe('when the ops account is configured', () => {
      it('logs in with OPS_EMAIL and OPS_PASSWORD and may use ops routes', async () => {
        const token = await login(t.url, OPS_ACCOUNT.OPS_EMAIL, OPS_ACCOUNT.OPS_PASSWORD);
        expect(claimsOf(token).role).toBe('ops');
        const listed = await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(token));
        expect(listed.status).toBe(200);
        expect(listed.json).toEqual([]);
      });
    });

    describe('when ops accounts are made with the CLI command', () => {
      const cli = (email: string, password: string | undefined, stdin = '') => {
        const lines: string[] = [];
        const run = createOpsAccount({
          store: t.service.store, clock: systemClock, ids: randomIds, email, password, readPassword: async () => stdin, write: (line) => lines.push(line),
        });
        return { run, lines };
      };

      it('creates one with the password from stdin, then updates it', async () => {
        const created = cli(' Boss@Example.com', undefined, 'Boss-password-2030\n');
        expect(await created.run).toMatchObject({ email: 'boss@example.com', outcome: 'created' });
        expect(created.lines).toEqual([expect.stringMatching(/^ops account boss@example.com created \(user_id [0-9a-f-]{36}\)$/)]);
        expect(claimsOf(await login(t.url, 'boss@example.com', 'Boss-password-2030')).role).toBe('ops');

        expect(await cli('boss@example.com', 'Boss-password-2030').run).toMatchObject({ outcome: 'unchanged' });
        expect(await cli('boss@example.com', 'Boss-password-2031').run).toMatchObject({ outcome: 'updated' });
        expect((await loginAttempt(t.url, 'boss@example.com', 'Boss-password-2030')).status).toBe(401);
        expect((await loginAttempt(t.url, 'boss@example.com', 'Boss-password-2031')).status).toBe(200);
      });

      it('promotes an existing customer, keeping its id', async () => {
        const customer = await registerCustomer(t.url);
        expect(await cli(customer.email, 'Promoted-2030!').run).toMatchObject({ userId: customer.userId, outcome: 'updated' });
        expect(claimsOf(await login(t.url, customer.email, 'Promoted-2030!'))).toMatchObject({ sub: customer.userId, role: 'ops' });
      });

      it("ends the ops tokens issued before the account's password changed, and those of an account no longer ops", async () => {
        await cli('rev@example.com', 'Revoke-password-2030').run;
        const before = await login(t.url, 'rev@example.com', 'Revoke-password-2030');
        expect((await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(before))).status).toBe(200);
        // Tokens carry whole seconds: the change must fall in a later second than the token's issue.
        await Bun.sleep(1100);
        expect(await cli('rev@example.com', 'Revoke-password-2031').run).toMatchObject({ outcome: 'updated' });
        const revoked = await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(before));
        await expectProblem(revoked, 401, 'UNAUTHORIZED');
        expect(revoked.headers.get('www-authenticate')).toContain('error="invalid_token"');
        const after = await login(t.url, 'rev@example.com', 'Revoke-password-2031');
        expect((await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(after))).status).toBe(200);

        await t.service.store.execute("UPDATE users SET role = 'customer' WHERE email = $1", ['rev@example.com']);
        await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(after)), 401, 'UNAUTHORIZED');
      });

      it('refuses a weak password and writes nothing', async () => {
        await expect(cli('weak@example.com', 'aaaaaaaaaaaaaaaa').run).rejects.toThrow(OpsAccountError);
        await expect(cli('weak@example.com', undefined, 'Short-1\n').run).rejects.toThrow(/at least 12 characters/);
        expect((await loginAttempt(t.url, 'weak@example.com', 'aaaaaaaaaaaaaaaa')).status).toBe(401);
      });
    });

    describe('when a client keeps within the default limits', () => {
      it('is never limited at 100 requests in a burst, and sees the RateLimit headers', async () => {
        const burst = await Promise.all(Array.from({ length: 100 }, () => call(t.url, 'POST', '/api/auth/login', {})));
        expect(burst.map((r) => r.status)).toEqual(Array.from({ length: 100 }, () => 400));
        expect(burst[0]!.headers.get('ratelimit-policy')).toBe('"auth";q=200;w=1');
        expect(burst[0]!.headers.get('ratelimit')).toMatch(/^"auth";r=\d+;t=1$/);
      });
    });
  });

  describe(`rate limits (${mode})`, () => {
    let t: TestService;
    let other: TestService | undefined;
    beforeAll(async () => {
      const env = { RATE_LIMIT_AUTH: '3/1h', RATE_LIMIT_HOLDS: '2/1h', TRUSTED_PROXY_HOPS: '1' };
      t = await startTestService(mode, { env, features: [probeFeature] });
      if (mode === 'distributed') other = await startTestService(mode, { env, features: [probeFeature], joining: t });
    });
    afterAll(async () => {
      await other?.close();
      await t.close();
    });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });

    it('answers 429 with Retry-After past the limit of a client, counting failed logins and registrations alike', async () => {
      const client = from('198.51.100.1');
      const statuses: number[] = [];
      const remaining: (string | null)[] = [];
      for (const attempt of [
        () => loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, client),
        () => call(t.url, 'POST', '/api/auth/register', { email: 'x', password: '' }, client),
        () => loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, client),
      ]) {
        const response = await attempt();
        statuses.push(response.status);
        remaining.push(response.headers.get('ratelimit'));
      }
      expect(statuses).toEqual([401, 400, 401]);
      expect(remaining.map((h) => /r=(\d+)/.exec(h ?? '')?.[1])).toEqual(['2', '1', '0']);

      const limited = await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, client);
      await expectProblem(limited, 429, 'RATE_LIMITED');
      expect(limited.json.retryable).toBe(true);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expect(limited.headers.get('ratelimit-policy')).toBe('"auth";q=3;w=3600');
      expect(limited.headers.get('ratelimit')).toBe(`"auth";r=0;t=${retryAfter}`);
      await expectProblem(await call(t.url, 'POST', '/api/auth/register', { email: 'new@example.com', password: GOOD_PASSWORD }, client), 429, 'RATE_LIMITED');
    });

    it('says where the client stands on every answer of a limited route, a login\'s 200 and 401 too', async () => {
      const { email } = await registerCustomer(t.url, `${crypto.randomUUID()}@example.com`, GOOD_PASSWORD);
      const client = from('198.51.100.9');
      const answers = [await loginAttempt(t.url, email, GOOD_PASSWORD, client), await loginAttempt(t.url, email, `${GOOD_PASSWORD}x`, client)];
      expect(answers.map((a) => [a.status, a.headers.get('ratelimit-policy'), /r=(\d+)/.exec(a.headers.get('ratelimit') ?? '')?.[1]])).toEqual([
        [200, '"auth";q=3;w=3600', '2'],
        [401, '"auth";q=3;w=3600', '1'],
      ]);
    });

    it('counts each client on its own: another address is not limited', async () => {
      for (let i = 0; i < 3; i += 1) await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.2'));
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.2')), 429, 'RATE_LIMITED');
      expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.3'))).status).toBe(401);
    });

    it('counts an IPv6 client by its /64, the block one host is given, and an IPv4-mapped one by its IPv4 address', async () => {
      for (const address of ['2001:db8:1:2::1', '2001:DB8:1:2:ffff::9', '2001:0db8:0001:0002:0:0:0:42']) {
        expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from(address))).status).toBe(401);
      }
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('2001:db8:1:2:abcd::1')), 429, 'RATE_LIMITED');
      expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('2001:db8:1:3::1'))).status).toBe(401);
      for (let i = 0; i < 3; i += 1) await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.8'));
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('::ffff:198.51.100.8')), 429, 'RATE_LIMITED');
    });

    it('counts a client by its address when the proxy writes it with a port (a new port each connection), or an IPv6 one in brackets', async () => {
      for (const address of ['198.51.100.10:1001', '198.51.100.10:1002', '198.51.100.10']) {
        expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from(address))).status).toBe(401);
      }
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.10:1003')), 429, 'RATE_LIMITED');
      for (const address of ['[2001:db8:9:9::1]:443', '[2001:db8:9:9::2]', '2001:db8:9:9::3']) {
        expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from(address))).status).toBe(401);
      }
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('[2001:db8:9:9::4]:8443')), 429, 'RATE_LIMITED');
    });

    it('takes the address the trusted proxy wrote, not one the client put before it', async () => {
      for (let i = 0; i < 3; i += 1) await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.4'));
      const spoofed = await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('203.0.113.9, 198.51.100.4'));
      await expectProblem(spoofed, 429, 'RATE_LIMITED');
    });

    it('counts logins and registrations by address whatever token they carry: a token buys no more guesses', async () => {
      const client = from('198.51.100.7');
      const attempts = [{}, bearer(mintToken()), bearer(mintToken({ role: 'ops' }))];
      for (const token of attempts) expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, { ...client, ...token })).status).toBe(401);
      await expectProblem(await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, { ...client, ...bearer(mintToken()) }), 429, 'RATE_LIMITED');
    });

    it('counts an authenticated client by its user, per route class', async () => {
      const ann = bearer(mintToken());
      const bob = bearer(mintToken());
      const hold = (headers: Record<string, string>) => call(t.url, 'POST', '/test/hold', {}, { ...from('198.51.100.5'), ...headers });
      expect([(await hold(ann)).status, (await hold(ann)).status]).toEqual([200, 200]);
      const limited = await hold(ann);
      await expectProblem(limited, 429, 'RATE_LIMITED');
      expect(limited.headers.get('ratelimit-policy')).toBe('"holds";q=2;w=3600');
      expect((await hold(bob)).status).toBe(200);
      expect((await loginAttempt(t.url, 'nobody@example.com', GOOD_PASSWORD, from('198.51.100.5'))).status).toBe(401);
    });

    if (mode === 'distributed') {
      it('shares the counts between instances through Redis', async () => {
        const client = from('198.51.100.6');
        for (const url of [t.url, other!.url, t.url]) expect((await loginAttempt(url, 'nobody@example.com', GOOD_PASSWORD, client)).status).toBe(401);
        await expectProblem(await loginAttempt(other!.url, 'nobody@example.com', GOOD_PASSWORD, client), 429, 'RATE_LIMITED');
      });
    }
  });
}

describe('the ops account on a second instance (distributed)', () => {
  let first: TestService;
  let second: TestService;
  beforeAll(async () => {
    first = await startTestService('distributed', { env: OPS_ACCOUNT });
    second = await startTestService('distributed', { env: { ...OPS_ACCOUNT, OPS_PASSWORD: 'Rotated-password-2030' }, joining: first });
  });
  afterAll(async () => {
    await second.close();
    await first.close();
  });

  it('takes the new OPS_PASSWORD at start-up, and each instance accepts the tokens of the other', async () => {
    expect((await loginAttempt(first.url, OPS_ACCOUNT.OPS_EMAIL, OPS_ACCOUNT.OPS_PASSWORD)).status).toBe(401);
    const token = await login(first.url, OPS_ACCOUNT.OPS_EMAIL, 'Rotated-password-2030');
    expect((await call(second.url, 'GET', OPS_ROUTE, undefined, bearer(token))).status).toBe(200);
  });
});

describe('the signing key without JWT_SECRET (embedded)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService('embedded', { env: { ...OPS_ACCOUNT, JWT_SECRET: '' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('is generated: its own tokens verify, tokens of the test key do not', async () => {
    const token = await login(t.url, OPS_ACCOUNT.OPS_EMAIL, OPS_ACCOUNT.OPS_PASSWORD);
    expect((await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(token))).status).toBe(200);
    await expectProblem(await call(t.url, 'GET', OPS_ROUTE, undefined, bearer(mintToken({ role: 'ops' }))), 401, 'UNAUTHORIZED');
  });

  it('keys the fingerprint of registrations with it: a repeat with the same key is replayed', async () => {
    const account = { email: `${crypto.randomUUID()}@example.com`, password: GOOD_PASSWORD };
    const key = { 'Idempotency-Key': crypto.randomUUID() };
    const first = await call(t.url, 'POST', '/api/auth/register', account, key);
    const repeat = await call(t.url, 'POST', '/api/auth/register', account, key);
    expect([first.status, repeat.status, repeat.headers.get('idempotent-replayed')]).toEqual([201, 201, 'true']);
    expect(repeat.json).toEqual(first.json);
  });
});
