import { z } from 'zod';

/**
 * The only reader of the environment. Every variable, its default for embedded mode and its meaning is
 * listed here and in the README; a bad value stops start-up with a message naming the variable.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  POSTGRES_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  REDIS_ADDR: z.string().regex(/^(redis:\/\/.+|[^\s:]+:\d+)$/, 'host:port or redis:// URL').optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[\w.:-]*$/, 'letters, digits and . : _ - only').default(''),
  GATEWAY_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('tickets'),
  INSTANCE_ID: z.string().min(1).optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  TIMER_POLL_MS: z.coerce.number().int().min(10).default(250),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  OPS_EMAIL: z.email().optional(),
  OPS_PASSWORD: z.string().min(12, 'at least 12 characters').optional(),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  readonly port: number;
  readonly dataDir: string;
  readonly mode: 'embedded' | 'distributed';
  readonly postgresUrl: string | undefined;
  readonly redisAddr: string | undefined;
  readonly redisKeyPrefix: string;
  readonly gatewayAddr: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  readonly instanceId: string;
  readonly shutdownTimeoutMs: number;
  readonly timerPollMs: number;
  readonly webhookSecret: string | undefined;
  readonly jwtSecret: string | undefined;
  readonly opsEmail: string | undefined;
  readonly opsPassword: string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the environment once; the result is frozen and passed down explicitly. */
export function loadConfig(env: Env = process.env): Config {
  const blankAsUnset = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(blankAsUnset);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (Boolean(e.POSTGRES_URL) !== Boolean(e.REDIS_ADDR)) {
    throw new ConfigError('Invalid configuration:\n  POSTGRES_URL and REDIS_ADDR: set both for distributed mode, or neither for embedded mode');
  }
  if ((e.OPS_EMAIL === undefined) !== (e.OPS_PASSWORD === undefined)) {
    throw new ConfigError('Invalid configuration:\n  OPS_EMAIL and OPS_PASSWORD: set both, or neither');
  }
  return Object.freeze({
    port: e.PORT,
    dataDir: e.DATA_DIR,
    mode: e.POSTGRES_URL ? 'distributed' : 'embedded',
    postgresUrl: e.POSTGRES_URL,
    redisAddr: e.REDIS_ADDR,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    gatewayAddr: e.GATEWAY_ADDR,
    logLevel: e.LOG_LEVEL,
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: e.OTEL_SERVICE_NAME,
    instanceId: e.INSTANCE_ID ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    timerPollMs: e.TIMER_POLL_MS,
    webhookSecret: e.WEBHOOK_SECRET,
    jwtSecret: e.JWT_SECRET,
    opsEmail: e.OPS_EMAIL,
    opsPassword: e.OPS_PASSWORD,
  } satisfies Config);
}
