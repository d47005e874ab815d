import type { AnyElysia } from 'elysia';
import { problemResponse, toProblem } from './problem';
import { SERVER_MAX_BODY_BYTES } from './requestContext';

/** A listening HTTP server. */
export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /**
   * Stops the server. Graceful (default): stop accepting connections and wait for in-flight requests,
   * at most `shutdownTimeoutMs`, then close what is left. Not graceful: close every connection now.
   * Resolves to whether requests were cut off (the graceful wait ran out).
   */
  stop(graceful?: boolean): Promise<boolean>;
  /** Requests being answered now. */
  readonly pendingRequests: number;
}

export interface ServerOptions {
  hostname?: string;
  /** Upper bound of a graceful stop. */
  shutdownTimeoutMs?: number;
  /** Told of an error that escaped the app (answered 500 INTERNAL): a bug of the service. */
  onEscapedError?: (error: unknown) => void;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** Starts `app` on `port` (0 picks a free one) with Bun.serve through Elysia's listen. */
export function startServer(app: AnyElysia, port: number, options: ServerOptions = {}): RunningServer {
  // Elysia turns reusePort on by default; off, a second instance on the same port fails loudly instead
  // of silently sharing the traffic.
  app.listen({
    port,
    reusePort: false,
    maxRequestBodySize: SERVER_MAX_BODY_BYTES,
    // Whatever NODE_ENV says: Bun's development mode answers an error that escapes the app with an
    // HTML page of source lines and paths. Such an error gets the plain INTERNAL problem instead.
    development: false,
    error: (error) => {
      options.onEscapedError?.(error);
      return problemResponse(toProblem(error));
    },
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
  });
  const server = app.server;
  if (server === null || server.port === undefined) throw new Error(`the server did not start on port ${port}`);
  const timeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let stopping: Promise<boolean> | undefined;

  return {
    port: server.port,
    get pendingRequests() {
      return server.pendingRequests;
    },
    stop(graceful = true) {
      stopping ??= (async () => {
        if (!graceful) {
          await app.stop(true);
          return false;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<true>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        });
        const result = await Promise.race([app.stop(false).then(() => false as const), timedOut]);
        clearTimeout(timer);
        if (result) await server.stop(true);
        return result;
      })();
      return stopping;
    },
  };
}
