import type { SQLiteError } from 'bun:sqlite';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Store } from './actors/ports';
import { ActorRuntime, UnregisteredMachinesError } from './actors/runtime';
import { TimerLoop } from './actors/timers';
import { createAdapters, type ExternalServices } from './adapters';
import { startGateway } from './adapters/gateway';
import { createOpsAccount, readFirstLineOfStdin } from './cli/accounts';
import { assertMigrated, showActor, StoreNotMigratedError, UnknownActorError } from './cli/actors';
import { USAGE, parseArgs, type Command } from './cli/args';
import { healthcheck } from './cli/healthcheck';
import { rebuildProjection } from './cli/projections';
import { ConfigError, loadConfig, loadGatewayConfig, type Config, type GatewayConfig } from './config';
import { accountsFeature, ensureOpsAccount, OpsAccountError, opsTokenStanding } from './features/accounts';
import { bookingsFeature } from './features/bookings';
import { catalogueFeature } from './features/catalogue';
import { createHoldsFeature } from './features/holds';
import { dataLakeFeature } from './features/dataLake';
import { searchFeature } from './features/search';
import { createDebuggerFeature } from './features/debugger';
import { deadLettersRoutes } from './features/deadLetters/deadLetters.routes';
import type { Feature, FeatureDeps } from './features/feature';
import { showsFeature } from './features/shows';
import { ticketsFeature } from './features/tickets';
import { createVipBundlesFeature } from './features/vipBundles';
import { createApp } from './http/app';
import { createAuth, createSecretHash, createTokens, resolveJwtSecret } from './http/auth';
import { createWebhookSignature } from './http/webhookSignature';
import { createIdempotency } from './http/idempotency';
import { createMemoryCounter, createRateLimit } from './http/rateLimit';
import { startServer } from './http/server';
import { ReferenceClock, systemClock, type Clock } from './kernel/clock';
import { randomIds, type IdSource } from './kernel/ids';
import { isStoreUnavailable } from './kernel/errors';
import { openFilesLimit } from './kernel/files';
import { Loop } from './kernel/loop';
import { settlesWithin } from './kernel/timeout';
import { createConsumers, type Consumers } from './messaging/consumers';
import { createDeliveryAudit } from './messaging/deliveryAudit';
import { createDeadLetters } from './messaging/deadLetters';
import { busReadiness, createBufferedRelay, createLogRelay, outboxReadiness } from './messaging/outbox';
import type { Bus } from './messaging/ports';
import { LeaseHeldError } from './messaging/leases';
import { createProjectionRunner, UnknownProjectionError, type ProjectionRunner } from './messaging/projections';
import { createRedisBus } from './messaging/redisBus';
import { RedisDatabaseError } from './messaging/redisConnection';
import { createRedisCounter } from './messaging/redisCounter';
import { createRetention } from './messaging/retention';
import { openSqliteBus } from './messaging/sqliteBus';
import { createLogger, type Logger } from './observability/logger';
import { createDomainMetrics } from './observability/domainMetrics';
import { createMetrics } from './observability/metrics';
import { createTracing } from './observability/tracing';
import { assertNotNewer, NewerSchemaError, openStore } from './store';
import { fileFailureOf } from './store/sqlite';
import { DataDirInUseError, lockDataDir } from './store/dataDirLock';
import packageJson from '../package.json' with { type: 'json' };

/** The features this build serves, in the order their routes are mounted. */
function featuresOf(config: Config): Feature[] {
  return [
    showsFeature,
    bookingsFeature,
    ticketsFeature,
    createVipBundlesFeature({ deadlineSeconds: config.vipBundleDeadlineSeconds }),
    accountsFeature,
    dataLakeFeature,
    catalogueFeature,
    createHoldsFeature({ maxLiveHoldsPerUser: config.holdsMaxLivePerUser, paymentCheckSeconds: config.holdPaymentCheckSeconds }),
    searchFeature,
    createDebuggerFeature({ traceUiUrl: config.traceUiUrl }),
  ];
}

/** How often a distributed instance reads the database server's clock, which it follows (ReferenceClock). */
const CLOCK_SYNC_MS = 10_000;
/** A machine clock this far off the database server's is worth a warning at start-up. */
const CLOCK_OFFSET_WARN_MS = 1_000;

/**
 * Fewer open files than this is worth a warning at start-up: a process out of file descriptors leaves new
 * clients waiting without an answer, and an idle distributed instance already holds about 60.
 */
const OPEN_FILES_WARN_BELOW = 1_024;

/** How long a stop waits for its parts (handlers, timers, read models, the outbox) before it fails what they wait for. */
const STOP_PARTS_MS = 2_000;

/** Things tests replace or add: time, ids, the logger, the external services, extra features. */
export interface ServiceOverrides {
  clock?: Clock;
  ids?: IdSource;
  logger?: Logger;
  services?: ExternalServices;
  features?: Feature[];
}

export interface RunningService {
  readonly port: number;
  readonly store: Store;
  readonly bus: Bus;
  readonly runtime: ActorRuntime;
  readonly timers: TimerLoop;
  readonly consumers: Consumers;
  readonly projections: ProjectionRunner;
  readonly services: ExternalServices;
  /** Graceful stop: stop accepting requests, finish in-flight commands and deliveries, close everything. */
  stop(): Promise<void>;
}

function openBus(config: Config): Bus {
  return config.redisAddr ? createRedisBus({ url: config.redisAddr, keyPrefix: config.redisKeyPrefix }) : openSqliteBus({ path: join(config.dataDir, 'bus.db') });
}

function projectionsOf(features: readonly Feature[]) {
  return features.flatMap((f) => f.projections ?? []);
}

/** The service's log, every line naming the service and the instance. */
function serviceLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, fields: { service: config.serviceName, instance: config.instanceId } });
}

/** The composition root: the only place that builds concrete things and wires them together. */
export async function startService(config: Config, overrides: ServiceOverrides = {}): Promise<RunningService> {
  // Set to the database server's clock in distributed mode, once the store is open (below).
  let clock: Clock = overrides.clock ?? systemClock;
  let databaseClock: ReferenceClock | undefined;
  const ids = overrides.ids ?? randomIds;
  const logger = overrides.logger ?? serviceLogger(config);
  const tracing = createTracing({
    serviceName: config.serviceName,
    instanceId: config.instanceId,
    version: packageJson.version,
    otlpEndpoint: config.otlpEndpoint,
    onExportError: (error) => logger.warn('traces could not be exported to OTEL_EXPORTER_OTLP_ENDPOINT', { err: error }),
  });
  const metrics = createMetrics();
  const registry = metrics.registry;
  const features = [...featuresOf(config), ...(overrides.features ?? [])];

  const dataDirLock = await usingDataFile(config.dataDir, 'instance.lock', () => lockDataDir(config.dataDir));
  let store: Store;
  try {
    store = await usingDataFile(config.dataDir, storeFileOf(config), async () => {
      const opened = await openStore({
        postgresUrl: config.postgresUrl,
        postgresPoolSize: config.postgresPoolSize,
        dataDir: config.dataDir,
        onNoAnswer: (waitedMs) => logger.warn('PostgreSQL left a statement unanswered too long: its connections were taken for lost, closed and are made again', { waited_ms: Math.round(waitedMs) }),
      });
      await assertNotNewer(opened);
      await opened.migrate();
      if (overrides.clock === undefined) {
        databaseClock = await databaseClockOf(config, opened, logger);
        clock = databaseClock ?? clock;
      }
      if (config.opsEmail !== undefined && config.opsPassword !== undefined) {
        const ops = await ensureOpsAccount({ db: opened, clock, ids, email: config.opsEmail, password: config.opsPassword });
        logger.info('ops account ready', { email: ops.email, outcome: ops.outcome });
      }
      return opened;
    });
  } catch (error) {
    dataDirLock.release();
    throw error;
  }
  const bus = await usingDataFile(config.dataDir, config.redisAddr ? undefined : 'bus.db', () => openBus(config));
  // A database the Redis server does not have stops start-up; a Redis that is down does not (the
  // outbox keeps the events until it is back, and /ready says so).
  if (config.redisAddr) {
    await bus.ping().catch((error: unknown) => {
      if (error instanceof RedisDatabaseError) throw error;
    });
  }

  const projections = createProjectionRunner({ store, projections: projectionsOf(features), clock, logger, registry });
  await projections.ensureTables();
  const outbox = config.mode === 'embedded'
    ? createLogRelay({ store, bus, clock, logger, registry })
    : await usingDataFile(config.dataDir, 'outbox.db', () => createBufferedRelay({ store, bus, clock, logger, registry, bufferPath: join(config.dataDir, 'outbox.db') }));

  const domainMetrics = createDomainMetrics(registry, async () => {
    const [row] = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM timers WHERE due_at < $1', [new Date(clock.now().getTime() - 1000).toISOString()]);
    return Number(row?.n ?? 0);
  });
  const runtime = new ActorRuntime({
    store,
    clock,
    ids,
    kinds: features.flatMap((f) => f.kinds ?? []),
    inline: features.flatMap((f) => f.inline ?? []),
    observer: domainMetrics.runtime,
    afterCommit: (messages) => {
      outbox.enqueue(messages);
      projections.notify();
      domainMetrics.observeCommitted(messages);
    },
  });
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

  const services = overrides.services ?? createAdapters({ gatewayAddr: config.gatewayAddr, clock, ids, onCall: domainMetrics.observeCall });
  // The key file is DATA_DIR's like the SQLite files: one that cannot be used stops start-up with one line.
  const jwtSecret = await resolveJwtSecret(config).catch((error: unknown) => {
    throw new DataFileError(`DATA_DIR ${config.dataDir} cannot be used: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  const tokens = createTokens({ secret: jwtSecret, previousSecret: config.jwtPreviousSecret, clock, ttlSeconds: config.jwtTtlSeconds, opsStanding: opsTokenStanding(store) });
  const rateLimitCounter = config.redisAddr ? createRedisCounter({ url: config.redisAddr, keyPrefix: config.redisKeyPrefix }) : createMemoryCounter();
  const rateLimit = createRateLimit({ rules: config.rateLimits, counter: rateLimitCounter, clock, userOf: tokens.userOf, trustedProxyHops: config.trustedProxyHops, logger });
  const idempotency = createIdempotency({ store, clock, callerOf: tokens.callerOf, logger });
  const stopping = new AbortController();
  /** Set when a stop begins: `/ready` answers 503 from then on, while requests are still served. */
  let draining = false;
  const deps: FeatureDeps = {
    runtime, store, clock, ids, tracing, logger, idempotency, services, tokens, secretHash: createSecretHash(jwtSecret), projections,
    auth: createAuth(tokens), rateLimit,
    webhookSignature: createWebhookSignature(config.webhookSecret),
    stopping: stopping.signal,
    // The dead letters need the consumers, which need the handlers made from these deps: bound on first use.
    redriveIfSafe: (handler, actor) => deadLetters.redriveIfSafe(handler, actor),
    settleDeadLetters: (handler, actor, settled) => deadLetters.settle(handler, actor, settled),
  };
  const handlers = features.flatMap((f) => f.handlers?.(deps) ?? []);
  const consumers = createConsumers({
    store,
    bus,
    handlers,
    clock,
    ids,
    logger,
    tracing,
    registry,
    consumerName: config.instanceId,
    retry: { attempts: config.handlerRetryAttempts, maxMs: config.handlerRetryMaxDelayMs },
  });
  const deadLetters = createDeadLetters({ store, clock, consumers });
  // Either bus can lose what the outbox published to it: Redis restarted without persistence, or a
  // DATA_DIR/bus.db lost or deleted while the store's tickets.db was kept.
  const deliveryAudit = createDeliveryAudit({ store, bus, clock, logger, handlers, registry });

  const app = createApp({
    store,
    metrics,
    tracing,
    logger,
    ids,
    plugins: [...features.flatMap((f) => (f.routes ? [f.routes(deps)] : [])), deadLettersRoutes({ deadLetters, auth: deps.auth, idempotency, logger })],
    readinessChecks: [busReadiness(bus), outboxReadiness(outbox)],
    isStopping: () => draining,
    version: packageJson.version,
  });

  outbox.start();
  projections.start();
  consumers.start();
  deliveryAudit.start();
  timers.start();
  const retention = createRetention({ db: store, clock, logger });
  const clockSync = databaseClock && clockSyncLoop(databaseClock, logger);
  clockSync?.start();
  retention.start();
  warnOfFewOpenFiles(logger);
  const server = startServer(app, config.port, {
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    onEscapedError: (error) => logger.error('request failed outside the app', { err: error }),
  });
  logger.info('service started', { port: server.port, mode: config.mode });

  let stopped: Promise<void> | undefined;
  return {
    port: server.port,
    store,
    bus,
    runtime,
    timers,
    consumers,
    projections,
    services,
    stop() {
      stopped ??= (async () => {
        const began = performance.now();
        // A load balancer that watches /ready takes this instance out while it still serves, so that
        // closing the listener meets no request on its way in (SHUTDOWN_DRAIN_MS).
        draining = true;
        logger.info('stopping', { drain_ms: config.shutdownDrainMs, requests_in_flight: server.pendingRequests });
        if (config.shutdownDrainMs > 0) await Bun.sleep(config.shutdownDrainMs);
        stopping.abort();
        // Handlers reply into actors, so they stop before the runtime stops taking commands.
        const inFlight = server.pendingRequests;
        if (await server.stop(true)) logger.warn('requests still running when SHUTDOWN_TIMEOUT_MS ran out were cut off', { shutdown_timeout_ms: config.shutdownTimeoutMs, requests_in_flight_at_close: inFlight });
        const parts = (async () => {
          await clockSync?.stop();
          await timers.stop();
          await retention.stop();
          await deliveryAudit.stop();
          await consumers.stop();
          await runtime.close();
          await outbox.stop();
          await projections.stop();
        })();
        // Each part finishes the work it has in flight. Statements a database does not answer (a network
        // partition) would hold them until the store took the connections for lost (and then every try
        // of a new one until its connect timeout): past STOP_PARTS_MS, those statements fail at once.
        if (!(await settlesWithin(parts, STOP_PARTS_MS))) {
          logger.warn('the parts of the service did not stop in time: the database connections are closed, failing what waits on them', { waited_ms: STOP_PARTS_MS });
          void store.close({ waitMs: 0 });
        }
        await parts;
        await bus.close();
        await rateLimitCounter.close();
        await store.close();
        await tracing.shutdown();
        dataDirLock.release();
        logger.info('service stopped', { stopped_in_ms: Math.round(performance.now() - began), requests_in_flight_at_close: inFlight });
      })();
      return stopped;
    },
  };
}

/**
 * Runs a one-shot command on the configured store (the configured pool size included) and closes it.
 * `existing`: the store must be the service's, migrated: an embedded store that does not exist yet, an
 * empty database or one with pending migrations is an error (a mistyped DATA_DIR or POSTGRES_URL), not
 * a new store the command then reports success on.
 */
async function withStore(config: Config, work: (store: Store) => Promise<void>, options: { existing?: boolean } = {}): Promise<void> {
  if (options.existing && config.mode === 'embedded' && !existsSync(join(config.dataDir, 'tickets.db'))) {
    throw new StoreNotMigratedError(`there is no store in DATA_DIR ${config.dataDir}: check that DATA_DIR names the service's data directory`);
  }
  await usingDataFile(config.dataDir, storeFileOf(config), async () => {
    const store = await openStore({ postgresUrl: config.postgresUrl, postgresPoolSize: config.postgresPoolSize, dataDir: config.dataDir });
    try {
      await assertNotNewer(store);
      if (options.existing) await assertMigrated(store);
      await work(store);
    } finally {
      await store.close();
    }
  });
}

/** The store's SQLite file in DATA_DIR: embedded mode's whole state; none in distributed mode. */
const storeFileOf = (config: Config) => (config.mode === 'embedded' ? 'tickets.db' : undefined);

/** A file of DATA_DIR refused at start-up: a SQLite file not a database, damaged, or on a full disk; an unusable key file. */
class DataFileError extends Error {
  override name = 'DataFileError';
}

/**
 * Runs `step`, which opens or first uses the SQLite file `file` of DATA_DIR (none: `step` as it is). A
 * SQLite error about the file (fileFailureOf), also as the cause of the STORE_UNAVAILABLE it became,
 * is a DataFileError naming the file: SQLite's own messages ("file is not a database") do not say
 * which of the files it is.
 */
async function usingDataFile<T>(dataDir: string, file: string | undefined, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const sqlite = [error, (error as { cause?: unknown } | null)?.cause].find((e): e is SQLiteError => fileFailureOf(e) !== undefined);
    if (file === undefined || sqlite === undefined) throw error;
    throw new DataFileError(`DATA_DIR ${dataDir} cannot be used: ${join(dataDir, file)}: ${sqlite.message}${sqlite.code ? ` (${sqlite.code})` : ''}`, { cause: error });
  }
}

/**
 * Instances whose machines' clocks disagree would disagree on when a hold expires, whether a token was
 * issued in the future, and which records are old enough to delete: in distributed mode everything
 * follows the database server's clock instead, the one they share (undefined in embedded mode).
 */
async function databaseClockOf(config: Config, store: Store, logger?: Logger): Promise<ReferenceClock | undefined> {
  if (config.postgresUrl === undefined) return undefined;
  const databaseClock = new ReferenceClock(() => store.serverTime());
  await databaseClock.sync();
  const behindByMs = Math.round(databaseClock.now().getTime() - Date.now());
  logger?.[Math.abs(behindByMs) >= CLOCK_OFFSET_WARN_MS ? 'warn' : 'info']('following the database server\'s clock', { machine_clock_behind_by_ms: behindByMs });
  return databaseClock;
}

/** Says so at start-up when the process may open too few files for its clients (Linux only). */
function warnOfFewOpenFiles(logger: Logger): void {
  if (!existsSync('/proc/self/limits')) return;
  const limit = openFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  if (limit !== undefined && limit < OPEN_FILES_WARN_BELOW) {
    logger.warn('this process may open few files: clients beyond that wait without an answer; raise `ulimit -n` (LimitNOFILE, --ulimit nofile)', { open_files_limit: limit, recommended_at_least: OPEN_FILES_WARN_BELOW * 4 });
  }
}

/** Reads the database server's clock again every CLOCK_SYNC_MS, so that drift and its steps are followed. */
function clockSyncLoop(databaseClock: ReferenceClock, logger: Logger): Loop {
  return new Loop({
    step: async () => {
      await databaseClock.sync();
      return false;
    },
    idleMs: CLOCK_SYNC_MS,
    maxBackoffMs: CLOCK_SYNC_MS,
    // The store's own failures are logged where they hurt; this says only that time now runs on unchecked.
    onError: (error, failures) => {
      if (failures === 1) logger.warn('the database server\'s clock could not be read; time goes on from the last reading', { err: error });
    },
  });
}

async function rebuild(config: Config, name: string): Promise<void> {
  const projections = projectionsOf(featuresOf(config));
  // Refused before a store is opened (in embedded mode, opening one creates it).
  if (!projections.some((p) => p.name === name)) throw new UnknownProjectionError(name, projections.map((p) => p.name));
  await withStore(config, async (store) => {
    const runner = createProjectionRunner({ store, projections, clock: (await databaseClockOf(config, store)) ?? systemClock });
    await rebuildProjection({ runner, name, write: (line) => console.log(line) });
  }, { existing: true });
}

const actorTimeline = (config: Config, address: string) =>
  withStore(config, (store) => showActor({ store, address, write: (line) => console.log(line) }), { existing: true });

const createOps = (config: Config, email: string) =>
  withStore(config, async (store) => {
    const readPassword = () => readFirstLineOfStdin(`password for ${email}: `);
    await createOpsAccount({ store, clock: (await databaseClockOf(config, store)) ?? systemClock, ids: randomIds, email, password: config.opsPassword, readPassword, write: (line) => console.log(line) });
  }, { existing: true });

async function migrateOnly(config: Config): Promise<void> {
  // Embedded, the store is the running instance's own: migrating it under that instance would leave it
  // serving on a schema it does not know. (Distributed instances cannot be seen from here: the README's
  // upgrade steps say to stop them first.)
  const lock = config.mode === 'embedded' ? await usingDataFile(config.dataDir, 'instance.lock', () => lockDataDir(config.dataDir)).catch(migratingInUse(config.dataDir)) : undefined;
  try {
    await withStore(config, async (store) => {
      // What this run applied itself: another `migrate` at the same time may have applied some first.
      const applied = await store.migrate();
      const said = applied.length === 0 ? 'no migration to apply' : `applied ${applied.length} migration${applied.length === 1 ? '' : 's'} (${applied.length === 1 ? applied[0] : `${applied[0]} … ${applied.at(-1)}`})`;
      console.log(`${said}; the store is up to date`);
    });
  } finally {
    lock?.release();
  }
}

const migratingInUse = (dataDir: string) => (error: unknown): never => {
  if (error instanceof DataDirInUseError) throw new DataDirInUseError(`an instance is running with DATA_DIR ${dataDir}: stop it before migrating its store`);
  throw error;
};

/**
 * Resolves on the first SIGTERM, SIGINT or SIGHUP (the terminal of the session that started it closed).
 * Installed before start-up, so an early signal still stops cleanly. The listeners stay: a second
 * signal while the service stops changes nothing, where the default action would kill it mid-stop
 * (requests cut off, the store left open). SIGKILL remains for an operator who will not wait.
 */
function shutdownSignal(): Promise<void> {
  // SIGUSR1 and SIGUSR2 mean nothing here, and by default they would end the process at once, cutting
  // off every request (a log rotator or a supervisor that sends one to ask for a reopen, say).
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) process.on(signal, () => {});
  return new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => resolve());
  });
}

/** A command that uses no store, bus or accounts: the simulator, or a check of the server on PORT. */
type StorelessCommand = Extract<Command, { name: 'gateway' | 'healthcheck' }>;

async function runStoreless(command: StorelessCommand, config: GatewayConfig): Promise<number> {
  switch (command.name) {
    case 'healthcheck':
      return healthcheck({ port: config.port, path: command.path, write: (line) => console.log(line) });
    case 'gateway': {
      const signalled = shutdownSignal();
      const gateway = startGateway({ port: config.port });
      createLogger({ level: config.logLevel }).info('gateway started', { port: gateway.port });
      await signalled;
      await gateway.stop();
      return 0;
    }
  }
}

async function run(command: Exclude<Command, StorelessCommand | { name: 'help' | 'version' | 'unknown' }>, config: Config): Promise<number> {
  switch (command.name) {
    case 'migrate':
      await migrateOnly(config);
      return 0;
    case 'rebuild':
      await rebuild(config, command.projection);
      return 0;
    case 'create-ops':
      await createOps(config, command.email);
      return 0;
    case 'actor':
      await actorTimeline(config, command.address);
      return 0;
    case 'serve': {
      const signalled = shutdownSignal();
      // A stop asked for while start-up still waits (a database that does not answer holds it for the
      // driver's 30 s) ends the process at once: nothing is served yet, and what start-up was writing
      // is a transaction the database rolls back.
      const service = await Promise.race([startService(config), signalled.then(() => undefined)]);
      if (service === undefined) {
        serviceLogger(config).warn('stopped during start-up, before serving anything: start-up was still waiting (for the database, say)');
        return 0;
      }
      await signalled;
      await service.stop();
      return 0;
    }
  }
}

/** The binary's entry: parses the subcommand, reads the configuration once, runs. */
async function main(args: readonly string[]): Promise<number> {
  const command = parseArgs(args);
  if (command.name === 'help') return (console.log(USAGE), 0);
  if (command.name === 'version') return (console.log(packageJson.version), 0);
  if (command.name === 'unknown') return (console.error(`${command.problem}\n\n${USAGE}`), 2);
  let config: Config | undefined;
  let port: number | undefined;
  try {
    // `tickets healthcheck` too reads only what the gateway reads: it may be the gateway's it checks.
    if (command.name === 'gateway' || command.name === 'healthcheck') {
      const gatewayConfig = loadGatewayConfig();
      port = gatewayConfig.port;
      return await runStoreless(command, gatewayConfig);
    }
    config = loadConfig();
    port = config.port;
    return await run(command, config);
  } catch (error) {
    if (error instanceof RedisDatabaseError) return (console.error(`REDIS_ADDR: ${error.message}`), 2);
    if (error instanceof ConfigError || error instanceof UnknownProjectionError || error instanceof OpsAccountError || error instanceof DataDirInUseError || error instanceof DataFileError) {
      return (console.error(error.message), 2);
    }
    if (
      error instanceof UnknownActorError || error instanceof StoreNotMigratedError || error instanceof NewerSchemaError
      || error instanceof UnregisteredMachinesError || error instanceof LeaseHeldError
    ) {
      return (console.error(error.message), 1);
    }
    if (config?.postgresUrl !== undefined) {
      const host = new URL(config.postgresUrl).host;
      const unavailable = isStoreUnavailable(error);
      const cause = unavailable ? error.cause : error;
      // Reached, but refused (the server's own SQLSTATE): no such database or role, a wrong password, no connection left.
      const sqlState = (cause as { errno?: unknown } | undefined)?.errno;
      if (cause instanceof Error && cause.name === 'PostgresError' && typeof sqlState === 'string' && sqlState !== '') return (console.error(`the database at ${host} (POSTGRES_URL) refused: ${cause.message}`), 1);
      // Not reached, or its TLS handshake failed (an untrusted or expired certificate).
      if (unavailable) return (console.error(`the database cannot be reached at ${host} (POSTGRES_URL): ${cause instanceof Error ? cause.message : error.message}`), 1);
    }
    if ((error as { code?: unknown } | null)?.code === 'EADDRINUSE' && port !== undefined) {
      return (console.error(`PORT ${port} is in use: another process listens on it`), 2);
    }
    if (config !== undefined && isFileErrorUnder(error, config.dataDir)) return (console.error(`DATA_DIR ${config.dataDir} cannot be used: ${(error as Error).message}`), 2);
    throw error;
  }
}

/** A file-system error (no such directory, no permission, read-only) on a path inside `dir`. */
function isFileErrorUnder(error: unknown, dir: string): boolean {
  const { code, path } = (error ?? {}) as { code?: unknown; path?: unknown };
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof path === 'string' && resolve(path).startsWith(resolve(dir));
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
