export interface HealthcheckOptions {
  port: number;
  /** Path on the local server, `/health` by default (`/ready` for readiness). */
  path?: string;
  timeoutMs?: number;
  write: (line: string) => void;
}

/**
 * `tickets healthcheck [path]`: asks the server on 127.0.0.1:PORT for `path` and resolves to 0 on a
 * 200, 1 otherwise. It exists for container images without a shell or curl (the Dockerfile's HEALTHCHECK).
 */
export async function healthcheck({ port, path = '/health', timeoutMs = 2_000, write }: HealthcheckOptions): Promise<number> {
  const url = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    write(`${url}: ${response.status}`);
    return response.status === 200 ? 0 : 1;
  } catch (error) {
    write(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
