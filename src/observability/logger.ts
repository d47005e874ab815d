import { context, createContextKey, trace } from '@opentelemetry/api';
import { systemClock, type Clock } from '../kernel/clock';

/** Severity of a log line; `silent` writes nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Extra fields of a log line. Well-known ones: `correlation_id`, `trace_id`, `actor`, `err`. */
export type LogFields = Record<string, unknown>;

/** A structured logger: one JSON object per line, `{time, level, msg, ...fields}`. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (later fields win over earlier ones). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where each line goes (without the trailing newline); stdout by default. */
  write?: (line: string) => void;
  clock?: Clock;
  /** Fields on every line, e.g. `{ service: 'tickets' }`. */
  fields?: LogFields;
}

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/**
 * Where the request context puts the request's `Correlation-ID` in the active context, so that every
 * line written while serving it carries the id, not only the lines that pass it.
 */
export const CORRELATION_ID_KEY = createContextKey('tickets.correlation_id');

/**
 * Creates the structured JSON logger. The active span's trace id is added as `trace_id`, and the active
 * request's correlation id as `correlation_id`, when the caller did not give them, so that lines written
 * while handling a request can be found from its trace and its correlation id.
 */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const clock = options.clock ?? systemClock;
  const threshold = severity[options.level];

  const make = (base: LogFields): Logger => {
    const log = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
      if (severity[level] < threshold) return;
      const line: LogFields = { time: clock.now().toISOString(), level, msg };
      const active = context.active();
      const traceId = trace.getSpan(active)?.spanContext().traceId;
      if (traceId !== undefined) line.trace_id = traceId;
      const correlationId = active.getValue(CORRELATION_ID_KEY);
      if (typeof correlationId === 'string') line.correlation_id = correlationId;
      Object.assign(line, base, fields);
      write(JSON.stringify(line, replaceErrors));
    };
    return {
      debug: (msg, fields) => log('debug', msg, fields),
      info: (msg, fields) => log('info', msg, fields),
      warn: (msg, fields) => log('warn', msg, fields),
      error: (msg, fields) => log('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    // The cause is the real error behind a mapped one (STORE_UNAVAILABLE's driver error, say).
    return { name: value.name, message: value.message, stack: value.stack, ...(value.cause === undefined ? {} : { cause: value.cause }) };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * An audit line for a sensitive operation (login, refund, ops action): `{"msg":"audit","audit":true,
 * "action":…}` plus who and what, so that audit lines can be filtered from the ordinary log.
 * Never pass secrets (passwords, tokens) in `fields`.
 */
export function audit(logger: Logger, action: string, fields: LogFields): void {
  logger.info('audit', { audit: true, action, ...fields });
}
