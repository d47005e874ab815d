import { spawn, type Subprocess } from 'bun';
import { join } from 'node:path';
import { freePort } from './redis';

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

export interface StartOptions {
  timeoutMs?: number;
  /** Flags for Bun itself, before the script (e.g. `--cpu-prof`). */
  bunArgs?: string[];
  /** Starts it with this many open files at most (`ulimit -n`, soft and hard). */
  openFilesLimit?: number;
}

/**
 * Starts the service on a free port and waits (bounded) until `GET /ready` answers 200, whatever the
 * log level. `env` is the whole configuration: the test's own environment is not passed on.
 */
export async function startServiceProcess(env: Record<string, string>, options: StartOptions = {}): Promise<ServiceProcess> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const port = env.PORT && env.PORT !== '0' ? Number(env.PORT) : await freePort();
  const command = [process.execPath, ...(options.bunArgs ?? []), 'src/main.ts', 'serve'];
  const limited = options.openFilesLimit === undefined ? command : ['bash', '-c', `ulimit -n ${options.openFilesLimit} && exec "$@"`, 'bash', ...command];
  const proc = spawn(limited, {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env, PORT: String(port) },
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

  const url = `http://localhost:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode}:\n${output}`);
    const ready = await fetch(`${url}/ready`).then((r) => r.status, () => 0);
    if (ready === 200) {
      return {
        port,
        url,
        proc,
        output: () => output,
        async stop(signal = 'SIGTERM') {
          proc.kill(signal);
          return proc.exited;
        },
      };
    }
    await Bun.sleep(25);
  }
  proc.kill('SIGKILL');
  throw new Error(`the service was not ready within ${timeoutMs} ms:\n${output}`);
}

/** PATH and HOME only, so that no variable of the test run configures the child by accident. */
function cleanEnv(): Record<string, string> {
  // No drain before a stop unless a test asks for one: there is no load balancer to wait for.
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0' };
}
