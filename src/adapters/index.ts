import type { Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';
import type { OnCall } from './call';
import { createDeadNationHttp } from './deadNation/deadNation.http';
import type { DeadNationPort } from './deadNation/deadNation.port';
import { createDeadNationSimulator, type DeadNationSimulator } from './deadNation/deadNation.sim';
import { createFilesHttp } from './files/files.http';
import type { FilesPort } from './files/files.port';
import { createFilesSimulator, type FilesSimulator } from './files/files.sim';
import { createHttpClient, DEFAULT_TIMEOUT_MS, type FetchLike } from './httpClient';
import { createPaymentsHttp } from './payments/payments.http';
import type { PaymentsPort } from './payments/payments.port';
import { createPaymentsSimulator, type PaymentsSimulator } from './payments/payments.sim';
import { createReceiptsHttp } from './receipts/receipts.http';
import type { ReceiptsPort } from './receipts/receipts.port';
import { createReceiptsSimulator, type ReceiptsSimulator } from './receipts/receipts.sim';
import { createCallLog, type CallFilter, type SimCall, type SimulatorControls } from './simulation';
import { createSpreadsheetsHttp } from './spreadsheets/spreadsheets.http';
import type { SpreadsheetsPort } from './spreadsheets/spreadsheets.port';
import { createSpreadsheetsSimulator, type SpreadsheetsSimulator } from './spreadsheets/spreadsheets.sim';
import { createTransportationHttp } from './transportation/transportation.http';
import type { TransportationPort } from './transportation/transportation.port';
import { createTransportationSimulator, type TransportationSimulator } from './transportation/transportation.sim';

/** The ports of every external service, keyed by the service name used in errors and call logs. */
export interface ExternalServices {
  receipts: ReceiptsPort;
  payments: PaymentsPort;
  files: FilesPort;
  spreadsheets: SpreadsheetsPort;
  deadNation: DeadNationPort;
  transportation: TransportationPort;
}

/** Name of an external service, as in errors, observations and the call log. */
export type ServiceName = keyof ExternalServices;

/** Every external service. */
export const SERVICE_NAMES: readonly ServiceName[] = ['receipts', 'payments', 'files', 'spreadsheets', 'deadNation', 'transportation'];

/** Every simulator, sharing one call log. */
export interface Simulators {
  receipts: ReceiptsSimulator;
  payments: PaymentsSimulator;
  files: FilesSimulator;
  spreadsheets: SpreadsheetsSimulator;
  deadNation: DeadNationSimulator;
  transportation: TransportationSimulator;
  /** Fault injection and inspection of one service, by name. */
  controls(service: ServiceName): SimulatorControls;
  /** Every call received by any simulator, in arrival order. */
  calls(filter?: CallFilter): SimCall[];
  /** Forgets all state, calls and faults. */
  reset(): void;
}

/** What the simulators are built from. */
export interface SimulatorsOptions {
  clock: Clock;
  ids: IdSource;
  /** See `SimulatorDeps.timeoutMs`: set in process, unset behind the gateway. */
  timeoutMs?: number | undefined;
  onCall?: OnCall;
}

/** Builds all simulators together, on one call log. */
export function createSimulators(options: SimulatorsOptions): Simulators {
  const log = createCallLog();
  const deps = { ...options, log };
  const services = {
    receipts: createReceiptsSimulator(deps),
    payments: createPaymentsSimulator(deps),
    files: createFilesSimulator(deps),
    spreadsheets: createSpreadsheetsSimulator(deps),
    deadNation: createDeadNationSimulator(deps),
    transportation: createTransportationSimulator(deps),
  };
  return {
    ...services,
    controls: (service) => services[service],
    calls: (filter) => log.list(filter),
    reset() {
      for (const name of SERVICE_NAMES) services[name].reset();
      log.clear();
    },
  };
}

/** What the adapters are built from (the composition root passes the configuration in). */
export interface AdaptersOptions {
  /** Base URL of the external services (`GATEWAY_ADDR`); unset: the in-process simulators. */
  gatewayAddr?: string | undefined;
  clock: Clock;
  ids: IdSource;
  /** Upper bound of one call (default 5 s), also applied by the simulators. */
  timeoutMs?: number | undefined;
  fetch?: FetchLike;
  onCall?: OnCall;
}

/** The external services, and the simulators when they are the in-process ones (for tests to inspect). */
export interface Adapters extends ExternalServices {
  simulators?: Simulators;
}

/** HTTP clients of the services at `gatewayAddr` when it is set, else the in-process simulators. */
export function createAdapters(options: AdaptersOptions): Adapters {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { gatewayAddr } = options;
  if (gatewayAddr === undefined) {
    const simulators = createSimulators({ clock: options.clock, ids: options.ids, timeoutMs, onCall: options.onCall });
    return {
      receipts: simulators.receipts,
      payments: simulators.payments,
      files: simulators.files,
      spreadsheets: simulators.spreadsheets,
      deadNation: simulators.deadNation,
      transportation: simulators.transportation,
      simulators,
    };
  }
  const client = (service: ServiceName) =>
    createHttpClient({ service, baseUrl: gatewayAddr, timeoutMs, fetch: options.fetch, onCall: options.onCall });
  return {
    receipts: createReceiptsHttp(client('receipts')),
    payments: createPaymentsHttp(client('payments')),
    files: createFilesHttp(client('files')),
    spreadsheets: createSpreadsheetsHttp(client('spreadsheets')),
    deadNation: createDeadNationHttp(client('deadNation')),
    transportation: createTransportationHttp(client('transportation')),
  };
}
