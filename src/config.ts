import { SQL } from 'bun';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { decimalWholeNumber } from './kernel/numbers';
import './kernel/validation';
import { OPS_PASSWORD_MIN_LENGTH, passwordProblems } from './kernel/passwords';

/** How long a stop of a distributed instance keeps serving while load balancers take it out, unless `SHUTDOWN_DRAIN_MS` says otherwise. */
export const DEFAULT_DISTRIBUTED_DRAIN_MS = 5_000;

/** How long a VIP bundle may take before it compensates, unless `VIP_BUNDLE_DEADLINE_SECONDS` says otherwise. */
export const DEFAULT_VIP_BUNDLE_DEADLINE_SECONDS = 900;

/**
 * Live holds one user may have at once over all events, unless `HOLDS_MAX_LIVE_PER_USER` says
 * otherwise: enough for anyone comparing a few events, too few for one account to block a sale.
 */
export const DEFAULT_HOLDS_MAX_LIVE_PER_USER = 10;

/**
 * How long a hold's charge may go without an outcome before the hold charges again itself (the process
 * charging died), unless `HOLD_PAYMENT_CHECK_SECONDS` says otherwise. Longer than the payments client's
 * 5 s timeout, so that the recovery does not normally race a charge still out (it would be deduplicated).
 */
export const DEFAULT_HOLD_PAYMENT_CHECK_SECONDS = 30;

/**
 * A failing handler is retried in process up to `HANDLER_RETRY_ATTEMPTS` times in all, waiting 100 ms,
 * 200 ms, … (doubling, with jitter) but at most `HANDLER_RETRY_MAX_DELAY_MS` between attempts: by default
 * about 6 to 13 s in all, enough to ride out a restart of the service called, before a dead letter.
 */
export const DEFAULT_HANDLER_RETRY_ATTEMPTS = 8;
export const DEFAULT_HANDLER_RETRY_MAX_DELAY_MS = 10_000;

/** How many requests one client may make to one route class per window. */
export interface RateLimitRule {
  readonly limit: number;
  readonly windowMs: number;
}

const WINDOW_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `<requests>/<window>`, the window in whole seconds, minutes or hours: `200/1s`, `10/1m`. */
const rateLimitRule = z
  .string()
  .regex(/^[1-9]\d{0,8}\/[1-9]\d{0,5}[smh]$/, 'requests/window, e.g. 200/1s, 10/1m or 1000/1h')
  .transform((value): RateLimitRule => {
    const [limit, window] = value.split('/') as [string, string];
    const unit = window.slice(-1) as keyof typeof WINDOW_UNIT_MS;
    return { limit: Number(limit), windowMs: Number(window.slice(0, -1)) * WINDOW_UNIT_MS[unit] };
  });

/**
 * Twice the rate API.md promises every client (100 requests/s to any route), so that a client keeping
 * to it is never limited even when two of its bursts land in one window.
 */
const DEFAULT_RATE_LIMIT = '200/1s';

/** A whole number in decimal digits (kernel/numbers.ts): `0x50`, `1e3` or ` 80` are refused. */
const wholeNumber = decimalWholeNumber;

const HTTP_URL = 'an http:// or https:// URL';
const POSTGRES_URL = 'a postgres:// or postgresql:// URL';
const REDIS_ADDR = 'host:port, or a redis:// or rediss:// URL (special characters of a user or password percent-encoded)';

/**
 * What the Postgres driver refuses in `url` (an unknown `sslmode`, a `connect_timeout` that is not a
 * number, …), in its own words: only it knows every query parameter it reads. It reads them when a
 * client is made, and connects on first use, so the client made here opens nothing. Also a certificate
 * file the URL names that the driver would fail to load when it first connects.
 */
function postgresDriverRefusal(url: string): string | undefined {
  try {
    // `max` as the store gives it: given, a `max` in the URL is not read.
    void new SQL({ url, max: 1 }).close().catch(() => undefined);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The driver's word for a `%` that starts no valid escape, in a password say.
    return message === 'URI error' ? 'not a valid URL: special characters percent-encoded (`%` as %25)' : message;
  }
  // The driver reads these files only when it connects, and then fails with a bare TypeError or
  // "Failed to load CA file".
  for (const [parameter, marker] of [['sslrootcert', CERTIFICATE_PEM], ['sslcert', CERTIFICATE_PEM], ['sslkey', PRIVATE_KEY_PEM]] as const) {
    const path = new URL(url).searchParams.get(parameter);
    if (path === null) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      return `${parameter} ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
    if (!marker.test(text)) return `${parameter} ${path} holds no PEM ${parameter === 'sslkey' ? 'private key' : 'certificate'}`;
  }
  return undefined;
}

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** Whether a URL's part decodes (a `%` that starts no escape does not). */
function decodes(part: string): boolean {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}

/** A name or a key given as text: a value of blanks, or with blanks around it, is a copy-and-paste slip. */
const trimmedText = z.string().refine((value) => value.trim() === value && value !== '', 'not blank, and no blanks around it');

/** A key that signs access tokens (HS256). */
const jwtSecret = z.string().refine((secret) => secret.trim().length >= 32, 'at least 32 characters that are not blanks').optional();

/** The port written in a `redis://` URL, if any: a port past 65535 makes the URL unparsable, but deserves its own message. */
const writtenPort = (url: string) => /^rediss?:\/\/(?:[^@/?#]*@)?(?:\[[^\]/]*\]|[^:/?#]*):(\d+)(?=[/?#]|$)/.exec(url)?.[1];

/**
 * The only reader of the environment. Every variable, its default for embedded mode and its meaning is
 * listed here and in the README; a bad value stops start-up with a message naming the variable.
 */
const schema = z.object({
  PORT: wholeNumber(0, 65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  // Host and database named: a bare `postgres://` would quietly use the driver's defaults. Each check
  // stops at the first problem, so that one mistake gives one message.
  POSTGRES_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: (issue) => (/^postgres(ql)?:\/\//.test(String(issue.input)) ? 'not a valid URL: a port of 1..65535, special characters percent-encoded' : POSTGRES_URL), abort: true })
    .refine((url) => new URL(url).hostname !== '' && new URL(url).pathname.length > 1, { message: 'a URL with a host and a database, e.g. postgres://user@db:5432/tickets', abort: true })
    .superRefine((url, ctx) => {
      const refusal = postgresDriverRefusal(url);
      if (refusal !== undefined) ctx.addIssue({ code: 'custom', message: refusal });
    })
    .optional(),
  POSTGRES_POOL_SIZE: wholeNumber(2, 500).default(20),
  // Normalised to a URL here, once: the bus and the rate limiter take it as it is.
  REDIS_ADDR: z
    .string()
    .regex(/^(rediss?:\/\/.+|[^\s:/]+:\d+)$/, REDIS_ADDR)
    .transform((value) => (value.includes('://') ? value : `redis://${value}`))
    .refine((url) => Number(writtenPort(url) ?? 6379) >= 1 && Number(writtenPort(url) ?? 6379) <= 65535, { message: 'a port of 1..65535', abort: true })
    .refine((url) => URL.canParse(url) && new URL(url).hostname !== '', { message: REDIS_ADDR, abort: true })
    // ioredis decodes the user and password and throws on a `%` that starts no valid escape.
    .refine((url) => decodes(new URL(url).username) && decodes(new URL(url).password), { message: 'a user or password with a `%` that starts no escape: special characters percent-encoded (`%` as %25)', abort: true })
    // The driver reads `/abc` or `/2x` as database 0, which may be another deployment's.
    .refine((url) => /^\/?(\d+)?$/.test(new URL(url).pathname), 'after the host, only a database number, e.g. redis://cache:6379/2')
    .optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[\w.:-]*$/, 'letters, digits and . : _ - only').default(''),
  // Paths are appended to it, so a query or a fragment would end up in the middle of every URL.
  GATEWAY_ADDR: z.url({ protocol: /^https?$/, error: HTTP_URL }).refine((url) => !/[?#]/.test(url), 'a base URL without query or fragment').optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: HTTP_URL }).optional(),
  TRACE_UI_URL: z.url({ protocol: /^https?$/, error: HTTP_URL }).optional(),
  OTEL_SERVICE_NAME: trimmedText.default('tickets'),
  INSTANCE_ID: trimmedText.optional(),
  // Bounded so that every wait fits a timer (Node's and Bun's hold at most 2^31 - 1 ms) and a date.
  SHUTDOWN_TIMEOUT_MS: wholeNumber(0, 3_600_000).default(10_000),
  SHUTDOWN_DRAIN_MS: wholeNumber(0, 600_000).optional(),
  TIMER_POLL_MS: wholeNumber(10, 60_000).default(250),
  WEBHOOK_SECRET: trimmedText.optional(),
  JWT_SECRET: jwtSecret,
  JWT_PREVIOUS_SECRET: jwtSecret,
  JWT_TTL_SECONDS: wholeNumber(60, 86_400).default(3600),
  OPS_EMAIL: z.email().optional(),
  OPS_PASSWORD: z
    .string()
    .superRefine((password, ctx) => {
      for (const message of passwordProblems(password, OPS_PASSWORD_MIN_LENGTH)) ctx.addIssue({ code: 'custom', message });
    })
    .optional(),
  RATE_LIMIT_AUTH: rateLimitRule.prefault(DEFAULT_RATE_LIMIT),
  RATE_LIMIT_HOLDS: rateLimitRule.prefault(DEFAULT_RATE_LIMIT),
  TRUSTED_PROXY_HOPS: wholeNumber(0, 10).default(0),
  VIP_BUNDLE_DEADLINE_SECONDS: wholeNumber(1, 2_592_000).default(DEFAULT_VIP_BUNDLE_DEADLINE_SECONDS),
  HOLDS_MAX_LIVE_PER_USER: wholeNumber(1, 1000).default(DEFAULT_HOLDS_MAX_LIVE_PER_USER),
  HOLD_PAYMENT_CHECK_SECONDS: wholeNumber(1, 86_400).default(DEFAULT_HOLD_PAYMENT_CHECK_SECONDS),
  HANDLER_RETRY_ATTEMPTS: wholeNumber(1, 50).default(DEFAULT_HANDLER_RETRY_ATTEMPTS),
  HANDLER_RETRY_MAX_DELAY_MS: wholeNumber(10, 600_000).default(DEFAULT_HANDLER_RETRY_MAX_DELAY_MS),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  readonly port: number;
  readonly dataDir: string;
  readonly mode: 'embedded' | 'distributed';
  readonly postgresUrl: string | undefined;
  readonly postgresPoolSize: number;
  /** The Redis URL (`redis://` or `rediss://`); `host:port` in the environment is read as `redis://host:port`. */
  readonly redisAddr: string | undefined;
  readonly redisKeyPrefix: string;
  readonly gatewayAddr: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  readonly otlpEndpoint: string | undefined;
  /** Base URL of the trace UI; the debugger links `<TRACE_UI_URL><trace id>`. */
  readonly traceUiUrl: string | undefined;
  readonly serviceName: string;
  readonly instanceId: string;
  readonly shutdownTimeoutMs: number;
  /**
   * How long a stop keeps serving, with `/ready` answering 503, before it closes the listener: the time a
   * load balancer needs to see that and send no more. Unset: 5 s in distributed mode (instances behind a
   * load balancer), 0 in embedded mode (one instance: there is nowhere else to send requests).
   */
  readonly shutdownDrainMs: number;
  readonly timerPollMs: number;
  readonly webhookSecret: string | undefined;
  /** Signs access tokens; required in distributed mode. Embedded mode without it keeps a generated one in `dataDir`. */
  readonly jwtSecret: string | undefined;
  /** The key JWT_SECRET replaced: tokens it signed are still accepted until they expire, none are signed with it. */
  readonly jwtPreviousSecret: string | undefined;
  readonly jwtTtlSeconds: number;
  readonly opsEmail: string | undefined;
  /** The ops account's password: with `opsEmail` at start-up, or for `tickets accounts create-ops`. */
  readonly opsPassword: string | undefined;
  /** Per client, per route class (`rateLimit: 'auth'` on a route). */
  readonly rateLimits: Readonly<{ auth: RateLimitRule; holds: RateLimitRule }>;
  /** Reverse proxies in front of the service whose `X-Forwarded-For` entries are trusted; 0: the peer address is the client. */
  readonly trustedProxyHops: number;
  /** How long a VIP bundle may take before it compensates. */
  readonly vipBundleDeadlineSeconds: number;
  /** Live holds one user may have at once, over all events. */
  readonly holdsMaxLivePerUser: number;
  /** Seconds a hold's charge may go without an outcome before the hold charges again (same idempotency key). */
  readonly holdPaymentCheckSeconds: number;
  /** Attempts of a failing handler, in all, before its message is dead-lettered. */
  readonly handlerRetryAttempts: number;
  /** The longest wait between two attempts of a handler, also when `Retry-After` asks for more. */
  readonly handlerRetryMaxDelayMs: number;
}

/** What `tickets gateway` reads, and `tickets healthcheck`, which checks it (or the service) on PORT. */
export interface GatewayConfig {
  readonly port: number;
  readonly logLevel: Config['logLevel'];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `env` (blank values as unset) parsed by `fields`; a ConfigError naming each bad variable otherwise. */
function parseEnv<T extends z.ZodType>(fields: T, env: Env): z.output<T> {
  const blankAsUnset = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = fields.safeParse(blankAsUnset);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Reads and validates the environment once; the result is frozen and passed down explicitly. */
export function loadConfig(env: Env = process.env): Config {
  const e = parseEnv(schema, env);
  if (Boolean(e.POSTGRES_URL) !== Boolean(e.REDIS_ADDR)) {
    throw new ConfigError('Invalid configuration:\n  POSTGRES_URL and REDIS_ADDR: set both for distributed mode, or neither for embedded mode');
  }
  if (e.POSTGRES_URL && e.JWT_SECRET === undefined) {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required in distributed mode (every instance must verify the tokens of the others)');
  }
  // The generated key of embedded mode is rotated by deleting its file, which logs everyone out anyway.
  if (e.JWT_PREVIOUS_SECRET !== undefined && e.JWT_SECRET === undefined) {
    throw new ConfigError('Invalid configuration:\n  JWT_PREVIOUS_SECRET: needs JWT_SECRET (the key that replaced it)');
  }
  // OPS_PASSWORD alone is allowed: it is where `tickets accounts create-ops <email>` reads the password.
  if (e.OPS_EMAIL !== undefined && e.OPS_PASSWORD === undefined) {
    throw new ConfigError('Invalid configuration:\n  OPS_PASSWORD: required with OPS_EMAIL');
  }
  return Object.freeze({
    port: e.PORT,
    dataDir: e.DATA_DIR,
    mode: e.POSTGRES_URL ? 'distributed' : 'embedded',
    postgresUrl: e.POSTGRES_URL,
    postgresPoolSize: e.POSTGRES_POOL_SIZE,
    redisAddr: e.REDIS_ADDR,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    gatewayAddr: e.GATEWAY_ADDR,
    logLevel: e.LOG_LEVEL,
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    traceUiUrl: e.TRACE_UI_URL,
    serviceName: e.OTEL_SERVICE_NAME,
    instanceId: e.INSTANCE_ID ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS ?? (e.POSTGRES_URL ? DEFAULT_DISTRIBUTED_DRAIN_MS : 0),
    timerPollMs: e.TIMER_POLL_MS,
    webhookSecret: e.WEBHOOK_SECRET,
    jwtSecret: e.JWT_SECRET,
    jwtPreviousSecret: e.JWT_PREVIOUS_SECRET,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    opsEmail: e.OPS_EMAIL,
    opsPassword: e.OPS_PASSWORD,
    rateLimits: Object.freeze({ auth: e.RATE_LIMIT_AUTH, holds: e.RATE_LIMIT_HOLDS }),
    trustedProxyHops: e.TRUSTED_PROXY_HOPS,
    vipBundleDeadlineSeconds: e.VIP_BUNDLE_DEADLINE_SECONDS,
    holdsMaxLivePerUser: e.HOLDS_MAX_LIVE_PER_USER,
    holdPaymentCheckSeconds: e.HOLD_PAYMENT_CHECK_SECONDS,
    handlerRetryAttempts: e.HANDLER_RETRY_ATTEMPTS,
    handlerRetryMaxDelayMs: e.HANDLER_RETRY_MAX_DELAY_MS,
  } satisfies Config);
}

/**
 * Reads only what the external-services simulator uses, with the same fields as loadConfig: it has no
 * store, bus or accounts, so it can share the service's env file, whose settings it would otherwise
 * refuse (a distributed configuration without the JWT_SECRET it never needs).
 */
export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const e = parseEnv(schema.pick({ PORT: true, LOG_LEVEL: true }), env);
  return Object.freeze({ port: e.PORT, logLevel: e.LOG_LEVEL });
}
