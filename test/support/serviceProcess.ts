import { spawn, type Subprocess } from 'bun';
import { join } from 'node:path';

const ROOT = join(import.meta.dir, '..', '..');

/** A service started as a real child process (`bun src/main.ts`), as an operator would run it. */
export interface ServiceProcess {
  readonly port: number;
  readonly url: string;
  readonly proc: Subprocess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const proc = spawn([process.execPath, 'src/main.ts', ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}

/**
 * Starts the service on a free port and waits (bounded) for its "service started" log line.
 * `env` is the whole configuration: the test's own environment is not passed on.
 */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 15_000): Promise<ServiceProcess> {
  const proc = spawn([process.execPath, 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: { ...cleanEnv(), PORT: '0', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let output = '';
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk);
  };
  void collect(proc.stdout);
  void collect(proc.stderr);

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const started = /"msg":"service started".*?"port":(\d+)/.exec(output);
    if (started) {
      const port = Number(started[1]);
      return {
        port,
        url: `http://localhost:${port}`,
        proc,
        output: () => output,
        async stop(signal = 'SIGTERM') {
          proc.kill(signal);
          return proc.exited;
        },
      };
    }
    if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode}:\n${output}`);
    await Bun.sleep(25);
  }
  proc.kill('SIGKILL');
  throw new Error(`the service did not start within ${timeoutMs} ms:\n${output}`);
}

/** PATH and HOME only, so that no variable of the test run configures the child by accident. */
function cleanEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info' };
}
