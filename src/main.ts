import type { ActorKind } from './actors/registry';
import { ActorRuntime } from './actors/runtime';
import { TimerLoop } from './actors/timers';
import type { Store } from './actors/ports';
import { USAGE, parseArgs } from './cli/args';
import { ConfigError, loadConfig, type Config } from './config';
import { createApp } from './http/app';
import { startServer } from './http/server';
import { systemClock, type Clock } from './kernel/clock';
import { randomIds, type IdSource } from './kernel/ids';
import { createLogger, type Logger } from './observability/logger';
import { createMetrics } from './observability/metrics';
import { createTracing } from './observability/tracing';
import { openStore } from './store';
import packageJson from '../package.json' with { type: 'json' };

/** Things tests replace: time, ids and the logger. Everything else comes from the configuration. */
export interface ServiceOverrides {
  clock?: Clock;
  ids?: IdSource;
  logger?: Logger;
}

export interface RunningService {
  readonly port: number;
  readonly store: Store;
  readonly runtime: ActorRuntime;
  readonly timers: TimerLoop;
  /** Graceful stop: stop accepting requests, finish in-flight commands, close the store. */
  stop(): Promise<void>;
}

/** Actor kinds served by this build; features register theirs here. */
const actorKinds: ActorKind[] = [];

/** The composition root: the only place that builds concrete things and wires them together. */
export async function startService(config: Config, overrides: ServiceOverrides = {}): Promise<RunningService> {
  const clock = overrides.clock ?? systemClock;
  const ids = overrides.ids ?? randomIds;
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, fields: { service: config.serviceName, instance: config.instanceId } });
  const tracing = createTracing({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  const metrics = createMetrics();

  const store = await openStore({ postgresUrl: config.postgresUrl, dataDir: config.dataDir });
  await store.migrate();

  const runtime = new ActorRuntime({ store, clock, ids, kinds: actorKinds });
  await runtime.verifyStoredMachines();
  const timers = new TimerLoop({
    store,
    runtime,
    clock,
    ids,
    owner: config.instanceId,
    pollMs: config.timerPollMs,
    onError: (timer, error) => logger.error('timer delivery failed', { actor: timer.address, timer: timer.name, err: error }),
  });
  timers.start();

  const app = createApp({ store, metrics, tracing, logger, ids, plugins: [], version: packageJson.version });
  const server = startServer(app, config.port, { shutdownTimeoutMs: config.shutdownTimeoutMs });
  logger.info('service started', { port: server.port, mode: config.mode });

  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    store,
    runtime,
    timers,
    stop() {
      stopping ??= (async () => {
        await server.stop(true);
        await timers.stop();
        await runtime.close();
        await store.close();
        await tracing.shutdown();
        logger.info('service stopped');
      })();
      return stopping;
    },
  };
}

async function migrateOnly(config: Config): Promise<void> {
  const store = await openStore({ postgresUrl: config.postgresUrl, dataDir: config.dataDir });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

/** The binary's entry: parses the subcommand, reads the configuration once, runs. */
async function main(args: readonly string[]): Promise<number> {
  const command = parseArgs(args);
  if (command.name === 'help') return (console.log(USAGE), 0);
  if (command.name === 'version') return (console.log(packageJson.version), 0);
  if (command.name === 'unknown') return (console.error(`Unknown command "${command.given}".\n\n${USAGE}`), 2);

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return (console.error(error.message), 2);
    throw error;
  }
  if (command.name === 'migrate') return (await migrateOnly(config), 0);

  const service = await startService(config);
  await new Promise<void>((resolve) => {
    const shutdown = () => void service.stop().then(resolve);
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  return 0;
}

if (import.meta.main) {
  main(Bun.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
}
