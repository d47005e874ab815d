import { describe, expect, it } from 'bun:test';
import { ConfigError, loadConfig, loadGatewayConfig } from '../../src/config';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../support/tempDir';

describe('loadConfig', () => {
  describe('when nothing is set', () => {
    it('runs embedded on port 8080 with data in ./data', () => {
      const config = loadConfig({});
      expect(config.mode).toBe('embedded');
      expect(config.port).toBe(8080);
      expect(config.dataDir).toBe('./data');
      expect(config.logLevel).toBe('info');
      expect(Object.isFrozen(config)).toBe(true);
    });
  });

  describe('when Postgres and Redis are set', () => {
    it('runs distributed', () => {
      const config = loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) });
      expect(config.mode).toBe('distributed');
      expect(config.redisAddr).toBe('redis://127.0.0.1:6379');
    });

    it('keeps serving for 5 s of a stop while load balancers take the instance out, unless SHUTDOWN_DRAIN_MS says otherwise; embedded, it does not wait', () => {
      const distributed = { POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) };
      expect(loadConfig(distributed).shutdownDrainMs).toBe(5000);
      expect(loadConfig({ ...distributed, SHUTDOWN_DRAIN_MS: '0' }).shutdownDrainMs).toBe(0);
      expect(loadConfig({}).shutdownDrainMs).toBe(0);
      expect(loadConfig({ SHUTDOWN_DRAIN_MS: '1500' }).shutdownDrainMs).toBe(1500);
      expect(() => loadConfig({ SHUTDOWN_DRAIN_MS: '600001' })).toThrow(/SHUTDOWN_DRAIN_MS: .*at most 600000/);
    });

    it('takes Redis as host:port or as a redis:// or rediss:// URL, and nothing else', () => {
      const distributed = (redis: string) => loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: redis, JWT_SECRET: 'x'.repeat(32) });
      expect(distributed('rediss://user:pw@cache:6380').redisAddr).toBe('rediss://user:pw@cache:6380');
      expect(distributed('redis://cache:6379/2').redisAddr).toBe('redis://cache:6379/2');
      for (const bad of ['cache', 'http://cache:6379', 'cache:port', '127.0.0.1:99999', 'redis://cache:70000', '127.0.0.1:0']) expect(() => distributed(bad)).toThrow(/REDIS_ADDR/);
      // A database is a number: the driver reads `/abc` or `/2x` as database 0, another deployment's.
      expect(distributed('redis://cache:6379/').redisAddr).toBe('redis://cache:6379/');
      for (const bad of ['redis://cache:6379/abc', 'redis://cache/2x', 'redis://cache:6379/-1', 'redis://cache:6379/1/2']) expect(() => distributed(bad)).toThrow(/REDIS_ADDR: .*database number/);
    });

    it('takes PostgreSQL only as a URL that names its host and database', () => {
      const distributed = (postgres: string) => loadConfig({ POSTGRES_URL: postgres, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) });
      expect(distributed('postgresql://u:pw@db:5432/tickets').postgresUrl).toBe('postgresql://u:pw@db:5432/tickets');
      for (const bad of ['postgres://', 'postgres://db:5432', 'postgres://db/', 'postgres:///tickets']) expect(() => distributed(bad)).toThrow(/POSTGRES_URL/);
    });
  });

  describe('when accounts and rate limits are not configured', () => {
    it('issues tokens for an hour and lets every client make 200 requests per second per route class', () => {
      const config = loadConfig({});
      expect(config.jwtSecret).toBeUndefined();
      expect(config.jwtTtlSeconds).toBe(3600);
      expect(config.rateLimits).toEqual({ auth: { limit: 200, windowMs: 1000 }, holds: { limit: 200, windowMs: 1000 } });
      expect(config.trustedProxyHops).toBe(0);
    });

    it('reads rate limits as requests per window in seconds, minutes or hours', () => {
      const config = loadConfig({ RATE_LIMIT_AUTH: '10/1m', RATE_LIMIT_HOLDS: '1000/2h' });
      expect(config.rateLimits).toEqual({ auth: { limit: 10, windowMs: 60_000 }, holds: { limit: 1000, windowMs: 7_200_000 } });
    });
  });

  describe('when hold limits are configured or not', () => {
    it('lets one user have 10 live holds unless HOLDS_MAX_LIVE_PER_USER says otherwise, from 1 to 1000', () => {
      expect(loadConfig({}).holdsMaxLivePerUser).toBe(10);
      expect(loadConfig({ HOLDS_MAX_LIVE_PER_USER: '3' }).holdsMaxLivePerUser).toBe(3);
      for (const bad of ['0', '1001', '2.5', 'many']) expect(() => loadConfig({ HOLDS_MAX_LIVE_PER_USER: bad })).toThrow(/HOLDS_MAX_LIVE_PER_USER/);
    });

    it('retries a failing handler 8 times in all, at most 10 s apart, unless HANDLER_RETRY_* say otherwise', () => {
      expect(loadConfig({})).toMatchObject({ handlerRetryAttempts: 8, handlerRetryMaxDelayMs: 10_000 });
      expect(loadConfig({ HANDLER_RETRY_ATTEMPTS: '3', HANDLER_RETRY_MAX_DELAY_MS: '500' })).toMatchObject({ handlerRetryAttempts: 3, handlerRetryMaxDelayMs: 500 });
      for (const bad of ['0', '51', '2.5', 'many']) expect(() => loadConfig({ HANDLER_RETRY_ATTEMPTS: bad })).toThrow(/HANDLER_RETRY_ATTEMPTS/);
      for (const bad of ['9', '600001', 'long']) expect(() => loadConfig({ HANDLER_RETRY_MAX_DELAY_MS: bad })).toThrow(/HANDLER_RETRY_MAX_DELAY_MS/);
    });

    it('charges again after 30 s without an outcome unless HOLD_PAYMENT_CHECK_SECONDS says otherwise, at least 1', () => {
      expect(loadConfig({}).holdPaymentCheckSeconds).toBe(30);
      expect(loadConfig({ HOLD_PAYMENT_CHECK_SECONDS: '2' }).holdPaymentCheckSeconds).toBe(2);
      for (const bad of ['0', '-1', '1.5', 'soon']) expect(() => loadConfig({ HOLD_PAYMENT_CHECK_SECONDS: bad })).toThrow(/HOLD_PAYMENT_CHECK_SECONDS/);
    });
  });

  describe('when a value is bad', () => {
    it('names the variable in the error', () => {
      expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
      expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
      expect(() => loadConfig({ GATEWAY_ADDR: 'not a url' })).toThrow(/GATEWAY_ADDR/);
      for (const port of ['0x50', '1e3', ' 80', '-1', '8080.0', '65536']) expect(() => loadConfig({ PORT: port })).toThrow(/PORT/);
      expect(() => loadConfig({ GATEWAY_ADDR: 'http://gw:1/?a=1' })).toThrow(/GATEWAY_ADDR/);
      expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
      expect(() => loadConfig({ TRACE_UI_URL: 'javascript:alert(1)' })).toThrow(/TRACE_UI_URL/);
      expect(() => loadConfig({ OPS_EMAIL: 'ops@example.com', OPS_PASSWORD: 'short' })).toThrow(/OPS_PASSWORD/);
    });

    it('refuses durations and intervals past what timers can wait, naming the variable and its bound', () => {
      for (const [name, bad] of [
        ['HOLD_PAYMENT_CHECK_SECONDS', '86401'], ['VIP_BUNDLE_DEADLINE_SECONDS', '2592001'], ['SHUTDOWN_TIMEOUT_MS', '3600001'], ['TIMER_POLL_MS', '60001'],
        ['HOLD_PAYMENT_CHECK_SECONDS', '9000000000000'], ['SHUTDOWN_TIMEOUT_MS', '4294967296'], ['TIMER_POLL_MS', '2147483648'],
      ] as const) {
        expect(() => loadConfig({ [name]: bad })).toThrow(new RegExp(`${name}: .*at most`));
      }
      expect(loadConfig({ HOLD_PAYMENT_CHECK_SECONDS: '86400', VIP_BUNDLE_DEADLINE_SECONDS: '2592000', SHUTDOWN_TIMEOUT_MS: '3600000', TIMER_POLL_MS: '60000' })).toMatchObject({
        holdPaymentCheckSeconds: 86400, vipBundleDeadlineSeconds: 2592000, shutdownTimeoutMs: 3600000, timerPollMs: 60000,
      });
    });

    it('names POSTGRES_URL when it is not a URL at all', () => {
      for (const bad of ['not a url', 'postgres://[bad', 'x', 'postgres://u@h:99999/db']) {
        expect(() => loadConfig({ POSTGRES_URL: bad, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) })).toThrow(ConfigError);
        expect(() => loadConfig({ POSTGRES_URL: bad, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) })).toThrow(/POSTGRES_URL/);
      }
    });

    it('says which scheme a URL needs', () => {
      expect(() => loadConfig({ GATEWAY_ADDR: 'ftp://x' })).toThrow(/GATEWAY_ADDR: an http:\/\/ or https:\/\/ URL/);
      expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://x:4317' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT: an http:\/\/ or https:\/\/ URL/);
    });

    it('says that POSTGRES_URL needs a postgres:// or postgresql:// URL', () => {
      for (const bad of ['mysql://x/y', 'http://x/y']) {
        expect(() => loadConfig({ POSTGRES_URL: bad, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) })).toThrow(/POSTGRES_URL: a postgres:\/\/ or postgresql:\/\/ URL/);
      }
    });

    it('refuses a POSTGRES_URL whose parameters the driver refuses (sslmode, connect_timeout), naming the parameter', () => {
      const distributed = (postgres: string) => loadConfig({ POSTGRES_URL: postgres, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) });
      expect(() => distributed('postgres://h/db?sslmode=bogus')).toThrow(ConfigError);
      expect(() => distributed('postgres://h/db?sslmode=bogus')).toThrow(/POSTGRES_URL: .*sslmode.*bogus/);
      expect(() => distributed('postgres://h/db?connect_timeout=soon')).toThrow(/POSTGRES_URL: .*connection_timeout/);
      expect(distributed('postgres://h/db?sslmode=verify-full').postgresUrl).toBe('postgres://h/db?sslmode=verify-full');
    });

    it('says to percent-encode a stray % in POSTGRES_URL, where the driver says only "URI error"', () => {
      const distributed = (postgres: string) => loadConfig({ POSTGRES_URL: postgres, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) });
      expect(() => distributed('postgres://u:pa%ss@h/db')).toThrow(/POSTGRES_URL: not a valid URL: special characters percent-encoded \(`%` as %25\)/);
    });

    it('refuses a POSTGRES_URL naming a certificate file it cannot read, which the driver would find out only when it connects', async () => {
      const distributed = (postgres: string) => loadConfig({ POSTGRES_URL: postgres, REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) });
      expect(() => distributed('postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt')).toThrow(/POSTGRES_URL: sslrootcert \/nonexistent\/ca.crt cannot be read: ENOENT/);
      expect(() => distributed('postgres://h/db?sslmode=verify-full&sslkey=/nonexistent/client.key')).toThrow(/POSTGRES_URL: sslkey \/nonexistent\/client.key cannot be read: ENOENT/);
      // A directory, or a file that holds no certificate (a half-written rotation), is refused as well.
      expect(() => distributed(`postgres://h/db?sslmode=verify-full&sslrootcert=${import.meta.dir}`)).toThrow(/POSTGRES_URL: sslrootcert .* cannot be read: EISDIR/);
      expect(() => distributed(`postgres://h/db?sslmode=verify-full&sslrootcert=${join(import.meta.dir, '..', '..', 'package.json')}`)).toThrow(/POSTGRES_URL: sslrootcert .* holds no PEM certificate/);
      const dir = makeTempDir('tickets-config-');
      try {
        const ca = join(dir.path, 'ca.crt');
        writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
        expect(distributed(`postgres://h/db?sslmode=verify-full&sslrootcert=${ca}`).postgresUrl).toContain('sslrootcert=');
      } finally {
        await dir.cleanup();
      }
    });

    it('says to percent-encode a stray % in the user or password of REDIS_ADDR', () => {
      const distributed = (redis: string) => loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: redis, JWT_SECRET: 'x'.repeat(32) });
      expect(() => distributed('rediss://user:pa%ss@cache:6380')).toThrow(/REDIS_ADDR: a user or password with a `%` that starts no escape/);
      expect(distributed('rediss://user:pa%25ss@cache:6380').redisAddr).toBe('rediss://user:pa%25ss@cache:6380');
    });

    it('gives one message for one problem', () => {
      const messages = (env: Record<string, string>) => {
        try {
          loadConfig(env);
        } catch (error) {
          return (error as Error).message.split('\n').slice(1);
        }
        throw new Error('no error');
      };
      const distributed = { REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'x'.repeat(32) };
      expect(messages({ JWT_SECRET: 'short' })).toEqual(['  JWT_SECRET: at least 32 characters that are not blanks']);
      expect(messages({ ...distributed, POSTGRES_URL: 'not a url' })).toEqual(['  POSTGRES_URL: a postgres:// or postgresql:// URL']);
      expect(messages({ ...distributed, POSTGRES_URL: 'postgres://u@h:99999/db' })).toHaveLength(1);
      expect(messages({ POSTGRES_URL: 'postgres://h/db', JWT_SECRET: 'x'.repeat(32), REDIS_ADDR: 'redis://[bad' })).toEqual(['  REDIS_ADDR: host:port, or a redis:// or rediss:// URL (special characters of a user or password percent-encoded)']);
      expect(messages({ POSTGRES_URL: 'postgres://h/db', JWT_SECRET: 'x'.repeat(32), REDIS_ADDR: 'redis://:6379' })).toEqual(['  REDIS_ADDR: host:port, or a redis:// or rediss:// URL (special characters of a user or password percent-encoded)']);
    });

    it('reads JWT_PREVIOUS_SECRET with the rules of JWT_SECRET, and only beside it', () => {
      const secret = 'x'.repeat(32);
      expect(loadConfig({ JWT_SECRET: secret, JWT_PREVIOUS_SECRET: 'y'.repeat(32) }).jwtPreviousSecret).toBe('y'.repeat(32));
      expect(loadConfig({ JWT_SECRET: secret }).jwtPreviousSecret).toBeUndefined();
      expect(() => loadConfig({ JWT_SECRET: secret, JWT_PREVIOUS_SECRET: 'short' })).toThrow(/JWT_PREVIOUS_SECRET: at least 32 characters that are not blanks/);
      expect(() => loadConfig({ JWT_PREVIOUS_SECRET: 'y'.repeat(32) })).toThrow(/JWT_PREVIOUS_SECRET: needs JWT_SECRET/);
    });

    it('refuses a JWT_SECRET of blanks', () => {
      expect(() => loadConfig({ JWT_SECRET: ' '.repeat(40) })).toThrow(/JWT_SECRET/);
    });

    it('refuses an INSTANCE_ID, OTEL_SERVICE_NAME or WEBHOOK_SECRET of blanks or with blanks around it, naming it', () => {
      for (const name of ['INSTANCE_ID', 'OTEL_SERVICE_NAME', 'WEBHOOK_SECRET']) {
        for (const value of [' ', '  \t', ' web-1', 'web-1 ']) expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}: not blank, and no blanks around it`));
        expect(() => loadConfig({ [name]: 'web-1' })).not.toThrow();
      }
    });

    it('refuses half a distributed configuration', () => {
      expect(() => loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db' })).toThrow(ConfigError);
    });

    it('requires JWT_SECRET in distributed mode, and at least 32 characters of it', () => {
      expect(() => loadConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: '127.0.0.1:6379' })).toThrow(/JWT_SECRET: required in distributed mode/);
      expect(() => loadConfig({ JWT_SECRET: 'too short' })).toThrow(/JWT_SECRET/);
    });

    it('requires OPS_PASSWORD with OPS_EMAIL, but takes OPS_PASSWORD alone (for accounts create-ops)', () => {
      expect(() => loadConfig({ OPS_EMAIL: 'ops@example.com' })).toThrow(/OPS_PASSWORD: required with OPS_EMAIL/);
      expect(loadConfig({ OPS_PASSWORD: 'Ops-password-2030' }).opsPassword).toBe('Ops-password-2030');
    });

    it('holds OPS_PASSWORD to the password policy: 12 characters from two character classes', () => {
      expect(() => loadConfig({ OPS_PASSWORD: 'onlylowercaseletters' })).toThrow(/OPS_PASSWORD: must mix at least two of/);
      expect(() => loadConfig({ OPS_PASSWORD: 'Short-2030' })).toThrow(/OPS_PASSWORD: must be at least 12 characters/);
    });

    it('refuses a rate limit that is not requests/window', () => {
      for (const bad of ['200', '200/s', '0/1s', '200/1d', '200/0s', 'lots']) expect(() => loadConfig({ RATE_LIMIT_AUTH: bad })).toThrow(/RATE_LIMIT_AUTH/);
    });

    it('treats an empty variable as unset', () => {
      expect(loadConfig({ PORT: '' }).port).toBe(8080);
    });
  });
});

describe('loadGatewayConfig', () => {
  describe('when the environment is the service\'s', () => {
    it('reads only PORT and LOG_LEVEL, so that the gateway can share an env file with the service', () => {
      const config = loadGatewayConfig({ PORT: '8081', LOG_LEVEL: 'warn', POSTGRES_URL: 'x', REDIS_ADDR: 'also bad', JWT_SECRET: 'short', OPS_EMAIL: 'ops@example.com' });
      expect(config).toEqual({ port: 8081, logLevel: 'warn' });
      expect(Object.isFrozen(config)).toBe(true);
      expect(loadGatewayConfig({ POSTGRES_URL: 'postgres://u@h:5432/db', REDIS_ADDR: '127.0.0.1:6379' })).toEqual({ port: 8080, logLevel: 'info' });
    });
  });

  describe('when what it reads is bad', () => {
    it('names the variable, as loadConfig does', () => {
      expect(() => loadGatewayConfig({ PORT: 'eighty' })).toThrow(ConfigError);
      expect(() => loadGatewayConfig({ PORT: 'eighty' })).toThrow(/PORT/);
      expect(() => loadGatewayConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    });
  });
});
