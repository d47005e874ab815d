import { afterAll, describe, expect, it } from 'bun:test';
import { createHmac } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTokens, resolveJwtSecret, type AuthUser } from '../../src/http/auth';
import { ManualClock } from '../../src/kernel/clock';
import { makeTempDir } from '../support/tempDir';

const SECRET = 'unit-test-secret-0123456789abcdef0123';
const T0 = '2030-01-01T00:00:00.000Z';
const NOW_S = Date.parse(T0) / 1000;
const ANN: AuthUser = { id: 'user-1', email: 'ann@example.com', role: 'customer' };

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hs256 = (input: string, secret = SECRET) => createHmac('sha256', secret).update(input).digest('base64url');

/** A token with any header and claims, signed HS256 with `secret` unless a signature is given. */
function craft(header: unknown, claims: unknown, options: { secret?: string; signature?: string } = {}): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${options.signature ?? hs256(input, options.secret)}`;
}

const HEADER = { alg: 'HS256', typ: 'JWT' };
const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: 'tickets', sub: ANN.id, email: ANN.email, role: ANN.role, iat: NOW_S, exp: NOW_S + 3600, ...overrides,
});

function setup() {
  const clock = new ManualClock(T0);
  return { clock, tokens: createTokens({ secret: SECRET, clock, ttlSeconds: 3600 }) };
}

describe('access tokens', () => {
  describe('when the service issues one', () => {
    it('verifies it, with HS256, typ JWT and the user, iat and exp as claims', () => {
      const { tokens } = setup();
      const { token, expiresIn } = tokens.issue(ANN);

      expect(expiresIn).toBe(3600);
      const [header, payload] = token.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
      expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
      expect(payload).toEqual({ iss: 'tickets', sub: ANN.id, email: ANN.email, role: 'customer', iat: NOW_S, exp: NOW_S + 3600 });
      expect(tokens.verify(token)).toEqual({ ok: true, user: ANN });
    });

    it('refuses it once expired (past the 30 s leeway), accepts it within the leeway', () => {
      const { tokens, clock } = setup();
      const { token } = tokens.issue(ANN);

      clock.advance(3600_000 + 29_000);
      expect(tokens.verify(token).ok).toBe(true);
      clock.advance(1_000);
      expect(tokens.verify(token)).toEqual({ ok: false, problem: 'expired' });
    });

    it('refuses it when signed with another secret', () => {
      const { clock } = setup();
      const other = createTokens({ secret: 'another-secret-0123456789abcdef01234', clock, ttlSeconds: 3600 });

      expect(setup().tokens.verify(other.issue(ANN).token)).toEqual({ ok: false, problem: 'signature' });
    });
  });

  describe('while the secret is being rotated (JWT_PREVIOUS_SECRET)', () => {
    const OLD = 'the-old-secret-0123456789abcdef012345';
    const rotated = (clock: ManualClock) => createTokens({ secret: SECRET, previousSecret: OLD, clock, ttlSeconds: 3600 });

    it('still accepts a token signed with the previous secret, until it expires', () => {
      const { clock } = setup();
      const before = createTokens({ secret: OLD, clock, ttlSeconds: 3600 }).issue(ANN).token;

      expect(rotated(clock).verify(before)).toEqual({ ok: true, user: ANN });
      clock.advance(3600_000 + 30_000);
      expect(rotated(clock).verify(before)).toEqual({ ok: false, problem: 'expired' });
    });

    it('signs new tokens with the current secret only', () => {
      const { clock } = setup();
      const { token } = rotated(clock).issue(ANN);

      expect(setup().tokens.verify(token)).toEqual({ ok: true, user: ANN });
      expect(createTokens({ secret: OLD, clock, ttlSeconds: 3600 }).verify(token)).toEqual({ ok: false, problem: 'signature' });
    });

    it('refuses a token signed with any third secret, and the previous secret does not loosen the other checks', () => {
      const { clock } = setup();

      expect(rotated(clock).verify(craft(HEADER, claims(), { secret: 'a-third-secret-0123456789abcdef0123456' }))).toEqual({ ok: false, problem: 'signature' });
      expect(rotated(clock).verify(craft({ alg: 'HS512', typ: 'JWT' }, claims(), { secret: OLD }))).toEqual({ ok: false, problem: 'algorithm' });
      expect(rotated(clock).verify(craft(HEADER, claims({ iss: 'other' }), { secret: OLD }))).toEqual({ ok: false, problem: 'claims' });
    });
  });

  describe('when a token was tampered with', () => {
    it('refuses a changed claim (customer made ops) with the original signature', () => {
      const { tokens } = setup();
      const [header, , signature] = tokens.issue(ANN).token.split('.');

      expect(tokens.verify(`${header}.${b64(claims({ role: 'ops' }))}.${signature}`)).toEqual({ ok: false, problem: 'signature' });
    });

    it('refuses a changed, truncated, missing or padded signature', () => {
      const { tokens } = setup();
      const token = tokens.issue(ANN).token;
      const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');

      expect(tokens.verify(flipped).ok).toBe(false);
      expect(tokens.verify(token.slice(0, -2)).ok).toBe(false);
      expect(tokens.verify(token.slice(0, token.lastIndexOf('.') + 1))).toEqual({ ok: false, problem: 'malformed' });
      expect(tokens.verify(`${token}=`)).toEqual({ ok: false, problem: 'malformed' });
    });
  });

  describe('when the header names another algorithm', () => {
    it('refuses alg none, unsigned or signed', () => {
      const { tokens } = setup();
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;

      expect(tokens.verify(unsigned).ok).toBe(false);
      expect(tokens.verify(craft({ alg: 'none', typ: 'JWT' }, claims()))).toEqual({ ok: false, problem: 'algorithm' });
      expect(tokens.verify(craft({ alg: 'None', typ: 'JWT' }, claims()))).toEqual({ ok: false, problem: 'algorithm' });
    });

    it('refuses HS512, RS256, a lower-case hs256, a missing alg, another typ and a crit header', () => {
      const { tokens } = setup();
      for (const header of [
        { alg: 'HS512', typ: 'JWT' }, { alg: 'RS256', typ: 'JWT' }, { alg: 'hs256', typ: 'JWT' }, { typ: 'JWT' },
        { alg: 'HS256', typ: 'at+jwt' }, { alg: 'HS256' }, { alg: 'HS256', typ: 'JWT', crit: ['exp'] },
      ]) {
        expect(tokens.verify(craft(header, claims()))).toEqual({ ok: false, problem: 'algorithm' });
      }
    });
  });

  describe('when the claims are not what the service issues', () => {
    it('refuses missing or mistyped sub, email, role, iat, exp and another issuer', () => {
      const { tokens } = setup();
      for (const bad of [
        { sub: undefined }, { sub: '' }, { sub: 7 }, { email: undefined }, { role: 'admin' }, { role: undefined },
        { exp: undefined }, { exp: '2030' }, { iat: undefined }, { iss: 'someone-else' }, { iss: undefined }, { nbf: 'soon' },
      ]) {
        expect(tokens.verify(craft(HEADER, claims(bad)))).toEqual({ ok: false, problem: 'claims' });
      }
    });

    it('refuses a token issued in the future or not yet valid, beyond the leeway', () => {
      const { tokens } = setup();

      expect(tokens.verify(craft(HEADER, claims({ iat: NOW_S + 31 })))).toEqual({ ok: false, problem: 'not_yet_valid' });
      expect(tokens.verify(craft(HEADER, claims({ nbf: NOW_S + 31 })))).toEqual({ ok: false, problem: 'not_yet_valid' });
      expect(tokens.verify(craft(HEADER, claims({ iat: NOW_S + 29, nbf: NOW_S + 29 }))).ok).toBe(true);
    });

    it('refuses what is not three base64url segments of JSON objects', () => {
      const { tokens } = setup();
      const valid = tokens.issue(ANN).token;
      for (const token of ['', 'abc', 'a.b', `${valid}.x`, 'a b.c.d', `${b64('not json')}.${b64(claims())}.sig`, `${b64([1])}.${b64(claims())}.sig`, 'x'.repeat(5000)]) {
        expect(tokens.verify(token)).toEqual({ ok: false, problem: 'malformed' });
      }
      expect(tokens.verify(craft(HEADER, 'not json'))).toEqual({ ok: false, problem: 'malformed' });
    });
  });

  describe('when read from a request', () => {
    const request = (authorization?: string) => new Request('http://x/', { headers: authorization === undefined ? {} : { authorization } });

    it('takes the user from a valid Bearer token (scheme in any case) and nothing from anything else', () => {
      const { tokens } = setup();
      const { token } = tokens.issue(ANN);

      expect(tokens.userOf(request(`Bearer ${token}`))).toEqual(ANN);
      expect(tokens.userOf(request(`bearer ${token}`))).toEqual(ANN);
      expect(tokens.userOf(request())).toBeUndefined();
      expect(tokens.userOf(request(`Basic ${token}`))).toBeUndefined();
      expect(tokens.userOf(request(`Bearer ${token}x`))).toBeUndefined();
    });

    it('gives idempotency the caller: user:<id> when the route admitted the token, anonymous on a route that needs none', async () => {
      const { tokens } = setup();
      const admitted = request(`Bearer ${tokens.issue(ANN).token}`);
      tokens.admit(admitted);

      expect(await tokens.callerOf(admitted)).toBe('user:user-1');
      // A route that needs no token: the same valid token, or a bad one, or none, is one caller.
      expect(await tokens.callerOf(request(`Bearer ${tokens.issue(ANN).token}`))).toBe('anonymous');
      expect(await tokens.callerOf(request('Bearer nope'))).toBe('anonymous');
      expect(await tokens.callerOf(request())).toBe('anonymous');
    });
  });
});

describe('the signing key', () => {
  const dir = makeTempDir('tickets-jwt-');
  afterAll(() => dir.cleanup());

  it('is JWT_SECRET when configured, and nothing is written', async () => {
    expect(await resolveJwtSecret({ jwtSecret: SECRET, dataDir: join(dir.path, 'configured') })).toBe(SECRET);
    await expect(stat(join(dir.path, 'configured'))).rejects.toThrow();
  });

  it('is generated once into DATA_DIR/jwt-secret (mode 0600) and reused after a restart', async () => {
    const dataDir = join(dir.path, 'embedded');
    const first = await resolveJwtSecret({ jwtSecret: undefined, dataDir });
    const again = await resolveJwtSecret({ jwtSecret: undefined, dataDir });

    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(again).toBe(first);
    expect(await readFile(join(dataDir, 'jwt-secret'), 'utf8')).toBe(first);
    expect((await stat(join(dataDir, 'jwt-secret'))).mode & 0o777).toBe(0o600);
  });

  it('gives every one of concurrent first starts the same key', async () => {
    const dataDir = join(dir.path, 'race');
    const keys = await Promise.all(Array.from({ length: 8 }, () => resolveJwtSecret({ jwtSecret: undefined, dataDir })));

    expect(new Set(keys).size).toBe(1);
  });

  it('refuses a stored key shorter than 32 characters', async () => {
    const dataDir = join(dir.path, 'short');
    await resolveJwtSecret({ jwtSecret: undefined, dataDir });
    await writeFile(join(dataDir, 'jwt-secret'), 'short');

    await expect(resolveJwtSecret({ jwtSecret: undefined, dataDir })).rejects.toThrow(/less than 32 characters/);
  });
});
