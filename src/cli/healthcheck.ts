export interface HealthcheckOptions {
  port: number;
  /** Path on the local server, `/health` by default (`/ready` for readiness). */
  path?: string;
  timeoutMs?: number;
  write: (line: string) => void;
}

/**
 * Longer than the service's own readiness checks (2 s each), so that a dependency that hangs is
 * reported by the service's answer, naming it, and shorter than the image's HEALTHCHECK timeout (3 s).
 */
const DEFAULT_TIMEOUT_MS = 2_700;

/**
 * `tickets healthcheck [path]`: asks the server on 127.0.0.1:PORT for `path` and resolves to 0 on a
 * 200, 1 otherwise, writing the status and, for a problem answer, its field errors (what is not ready).
 * It exists for container images without a shell or curl (the Dockerfile's HEALTHCHECK).
 */
export async function healthcheck({ port, path = '/health', timeoutMs = DEFAULT_TIMEOUT_MS, write }: HealthcheckOptions): Promise<number> {
  const url = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    write(`${url}: ${response.status}${response.status === 200 ? '' : reasonsIn(text)}`);
    return response.status === 200 ? 0 : 1;
  } catch (error) {
    write(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** ` store: no answer within 2000 ms; bus: unavailable` from a problem body's `errors`, or nothing. */
function reasonsIn(body: string): string {
  try {
    const errors = (JSON.parse(body) as { errors?: Record<string, string[]> }).errors ?? {};
    const reasons = Object.entries(errors).map(([name, messages]) => `${name}: ${messages.join(', ')}`);
    return reasons.length === 0 ? '' : ` ${reasons.join('; ')}`;
  } catch {
    return '';
  }
}
