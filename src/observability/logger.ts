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
  const write = options.write ?? stdoutLines();
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

/** How much of the log stdout may hold back, in characters, while its reader does not keep up; then lines are dropped. */
const STDOUT_BACKLOG_CHARS = 16 * 1024 * 1024;

/** The part of a stream that stdoutLines uses (process.stdout's). */
export interface LineSink {
  write(text: string, done: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * Writes log lines to stdout without letting its reader take the service down. A reader that went away
 * (a log shipper restarted, `| head`) makes writes fail with EPIPE, which would end the process: the lines
 * are dropped instead. A reader that stops reading would make the lines wait in memory without limit:
 * past `maxBacklogChars` waiting, new lines are dropped, and the first line written once the backlog is
 * down again says how many (`log lines dropped`).
 */
export function stdoutLines(sink: LineSink = process.stdout, maxBacklogChars = STDOUT_BACKLOG_CHARS): (line: string) => void {
  let waiting = 0;
  let dropped = 0;
  let gone = false;
  sink.on('error', () => {
    gone = true;
  });
  const send = (text: string) => {
    waiting += text.length;
    sink.write(text, () => {
      waiting -= text.length;
    });
  };
  return (line) => {
    if (gone) return;
    if (waiting > maxBacklogChars) {
      dropped += 1;
      return;
    }
    if (dropped > 0) {
      send(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: 'log lines dropped: stdout was not read for a while', dropped_lines: dropped })}\n`);
      dropped = 0;
    }
    send(`${line}\n`);
  };
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
