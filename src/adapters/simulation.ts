import { sleep } from '../kernel/backoff';
import { isoNow, type Clock } from '../kernel/clock';
import type { IdSource } from '../kernel/ids';
import { withTimeout } from '../kernel/timeout';
import type { CallContext, CallOutcome, OnCall } from './call';
import { errorForStatus, RetryableError, TerminalError } from './errors';

/**
 * An injected failure: `retryable` answers 503, `terminal` answers 400, `{ status }` answers that error
 * status (400..599), sorted exactly as the HTTP client sorts real answers.
 */
export type Fault = 'retryable' | 'terminal' | { status: number };

/** One call as a simulated service received it; snake_case because `/_sim/calls` serves it as is. */
export interface SimCall {
  /** Order of arrival across all simulators sharing the log, from 1. */
  seq: number;
  service: string;
  operation: string;
  /** Arrival time from the injected clock. */
  at: string;
  /** `Correlation-ID` as received ('' when a gateway request had none). */
  correlation_id: string;
  traceparent: string | null;
  /** The port request (the wire body, plus path parameters) as received. */
  request: unknown;
  /** `pending` while latency holds it; then how the service answered (whatever the caller saw). */
  outcome: 'pending' | CallOutcome;
  /** The error status answered, null on success or while pending. */
  status: number | null;
}

/** Which calls to list; an unset field matches every call. */
export interface CallFilter {
  service?: string | undefined;
  operation?: string | undefined;
}

/** The record of every call received, shared by the simulators built together. */
export interface CallLog {
  append(call: Omit<SimCall, 'seq' | 'outcome' | 'status'>): SimCall;
  /** Copies of the matching calls, in arrival order. */
  list(filter?: CallFilter): SimCall[];
  /** Forgets the calls of `service`, or all (and then numbering starts again at 1). */
  clear(service?: string): void;
}

/**
 * How many calls, and how many records of each kind (files, receipts, charges, rows of a sheet…), a
 * simulator keeps: it runs as long as the service does (embedded mode's default), so it forgets the
 * oldest rather than hold every call it was ever sent. A test or a probe looks at far fewer.
 */
export const SIM_MEMORY = 10_000;

/** A Map that forgets its oldest entry (by first insertion) past `max` entries. */
export class RecentMap<K, V> extends Map<K, V> {
  constructor(private readonly max = SIM_MEMORY) {
    super();
  }

  override set(key: K, value: V): this {
    super.set(key, value);
    if (this.size > this.max) this.delete(this.keys().next().value as K);
    return this;
  }
}

/** An empty call log that keeps the last SIM_MEMORY calls. */
export function createCallLog(): CallLog {
  let calls: SimCall[] = [];
  let seq = 0;
  return {
    append(call) {
      const entry: SimCall = { seq: ++seq, ...call, outcome: 'pending', status: null };
      calls.push(entry);
      if (calls.length > SIM_MEMORY) calls.shift();
      return entry;
    },
    list(filter = {}) {
      return structuredClone(calls.filter((c) =>
        (filter.service === undefined || c.service === filter.service)
        && (filter.operation === undefined || c.operation === filter.operation)));
    },
    clear(service) {
      if (service !== undefined) {
        calls = calls.filter((c) => c.service !== service);
        return;
      }
      calls = [];
      seq = 0;
    },
  };
}

/** Options of `failNext`. */
export interface FailNextOptions {
  /**
   * Fail after the effect took place: the answer is lost although the work was done, as when a
   * connection drops. A retry then meets the service's idempotency (or its absence).
   */
  afterEffect?: boolean;
}

/** Options of `setErrorRate`. */
export interface ErrorRateOptions<Op extends string> {
  /** Only this operation (default: every operation of the service). */
  operation?: Op | undefined;
  /** Seed of the PRNG that decides; the same seed gives the same failures in the same order. */
  seed?: number | undefined;
  fault?: Fault | undefined;
}

/** Fault injection and inspection of one simulated service. */
export interface SimulatorControls<Op extends string = string> {
  readonly service: string;
  readonly operations: readonly Op[];
  /** The next `n` calls of `operation` fail with `fault` (queued after faults already set). */
  failNext(operation: Op, n: number, fault: Fault, options?: FailNextOptions): void;
  /** Each later call fails with probability `rate` (0..1), drawn from a seeded PRNG. */
  setErrorRate(rate: number, options?: ErrorRateOptions<Op>): void;
  /** Throws what `failNext` or `setErrorRate` would throw for this fault, changing nothing. */
  checkFault(fault: Fault, operation?: Op | undefined): void;
  /** Each later call is answered after `ms` (of real time), of `operation` or of every operation. */
  setLatency(ms: number, options?: { operation?: Op | undefined }): void;
  /** The calls this service received. */
  calls(filter?: { operation?: Op | undefined }): SimCall[];
  /** Forgets the service's state, calls and faults. */
  reset(): void;
}

/** What a simulator is built from. */
export interface SimulatorDeps {
  clock: Clock;
  ids: IdSource;
  /** Log shared with other simulators (default: a log of its own). */
  log?: CallLog;
  /**
   * Stands in for the HTTP client's timeout in process: a call slower than this rejects with a
   * RetryableError `timeout` while its effect still happens later, as with a real service. Unset
   * (the gateway): calls take as long as their latency.
   */
  timeoutMs?: number | undefined;
  onCall?: OnCall;
}

/** The shared mechanics a simulator is built on. */
export interface Simulation<Op extends string> {
  readonly controls: SimulatorControls<Op>;
  /**
   * Records the call, applies latency and injected faults, and runs `effect` (synchronous, so that
   * idempotency checks and writes cannot interleave). `effect` throws `reject(...)` to refuse.
   */
  run<T>(operation: Op, request: unknown, context: CallContext, effect: () => T): Promise<T>;
  /** The error a real service's `status` answer becomes for `operation`. */
  reject(operation: Op, status: number, detail: string): RetryableError | TerminalError;
  /** Registers the clearing of the simulator's own state on reset. */
  onReset(clear: () => void): void;
}

interface QueuedFault {
  fault: Fault;
  afterEffect: boolean;
}

const ALL = '*';

/** What the HTTP client of a service makes of some statuses, so that the simulator answers alike. */
export interface StatusMeanings<Op extends string> {
  /** Codes of error statuses per operation (payments: charge 402 → PAYMENT_DECLINED). */
  errorCodes?: Partial<Record<Op, Readonly<Record<number, string>>>>;
  /** Non-2xx statuses that are a success of an operation (files: putTicketFile 409); they cannot be injected as faults. */
  successStatuses?: Partial<Record<Op, readonly number[]>>;
}

/** Builds the mechanics of one simulated service. */
export function createSimulation<Op extends string>(
  service: string,
  operations: readonly Op[],
  deps: SimulatorDeps,
  meanings: StatusMeanings<Op> = {},
): Simulation<Op> {
  const { clock, timeoutMs, onCall } = deps;
  const errorCodes: Partial<Record<Op, Readonly<Record<number, string>>>> = meanings.errorCodes ?? {};
  const successStatuses: Partial<Record<Op, readonly number[]>> = meanings.successStatuses ?? {};
  const log = deps.log ?? createCallLog();
  const resets: Array<() => void> = [];
  let queued = new Map<string, QueuedFault[]>();
  let rates = new Map<string, { rate: number; fault: Fault }>();
  let latencies = new Map<string, number>();
  let random = prng(1);

  const checkOperation = (operation: string | undefined) => {
    if (operation !== undefined && !operations.includes(operation as Op)) {
      throw new RangeError(`${service} has no operation ${operation} (it has ${operations.join(', ')})`);
    }
  };

  const checkFault = (fault: Fault, operation: Op | undefined) => {
    if (typeof fault !== 'object') return;
    if (!(Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599)) {
      throw new RangeError(`a fault status is 400..599, got ${fault.status}`);
    }
    for (const op of operation === undefined ? operations : [operation]) {
      if (successStatuses[op]?.includes(fault.status)) {
        throw new RangeError(`${fault.status} is a success of ${service}.${op}, not a fault`);
      }
    }
  };

  const reject = (operation: Op, status: number, detail: string) =>
    errorForStatus({
      service,
      operation,
      status,
      body: { error: detail },
      codes: errorCodes[operation],
      retryAfterSeconds: status === 429 ? 1 : undefined,
    });

  const faultError = (operation: Op, fault: Fault) => {
    const status = fault === 'retryable' ? 503 : fault === 'terminal' ? 400 : fault.status;
    return reject(operation, status, `simulated ${status} from ${service}.${operation}`);
  };

  // Decided on arrival, so that the order of faults follows the order of calls whatever the latency.
  const faultFor = (operation: Op): QueuedFault | undefined => {
    const queue = queued.get(operation);
    if (queue !== undefined && queue.length > 0) return queue.shift();
    const rate = rates.get(operation) ?? rates.get(ALL);
    if (rate !== undefined && rate.rate > 0 && random() < rate.rate) return { fault: rate.fault, afterEffect: false };
    return undefined;
  };

  const controls: SimulatorControls<Op> = {
    service,
    operations,
    failNext(operation, n, fault, options = {}) {
      checkOperation(operation);
      checkFault(fault, operation);
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext needs a count >= 0, got ${n}`);
      const queue = queued.get(operation) ?? [];
      for (let i = 0; i < n; i++) queue.push({ fault, afterEffect: options.afterEffect ?? false });
      queued.set(operation, queue);
    },
    checkFault(fault, operation) {
      checkOperation(operation);
      checkFault(fault, operation);
    },
    setErrorRate(rate, options = {}) {
      checkOperation(options.operation);
      const fault = options.fault ?? 'retryable';
      checkFault(fault, options.operation);
      if (!(rate >= 0 && rate <= 1)) throw new RangeError(`an error rate is between 0 and 1, got ${rate}`);
      rates.set(options.operation ?? ALL, { rate, fault });
      random = prng(options.seed ?? 1);
    },
    setLatency(ms, options = {}) {
      checkOperation(options.operation);
      if (!(ms >= 0)) throw new RangeError(`a latency is >= 0 ms, got ${ms}`);
      latencies.set(options.operation ?? ALL, ms);
    },
    calls(filter = {}) {
      return log.list({ service, operation: filter.operation });
    },
    reset() {
      queued = new Map();
      rates = new Map();
      latencies = new Map();
      random = prng(1);
      log.clear(service);
      for (const clear of resets) clear();
    },
  };

  async function answer<T>(operation: Op, call: SimCall, effect: () => T): Promise<T> {
    const injected = faultFor(operation);
    const latency = latencies.get(operation) ?? latencies.get(ALL) ?? 0;
    try {
      if (latency > 0) await sleep(latency);
      if (injected !== undefined && !injected.afterEffect) throw faultError(operation, injected.fault);
      const result = effect();
      if (injected?.afterEffect === true) throw faultError(operation, injected.fault);
      call.outcome = 'success';
      return result;
    } catch (error) {
      call.outcome = error instanceof TerminalError ? 'terminal' : 'retryable';
      call.status = error instanceof RetryableError || error instanceof TerminalError ? (error.status ?? null) : null;
      throw error;
    }
  }

  return {
    controls,
    reject,
    onReset(clear) {
      resets.push(clear);
    },
    async run(operation, request, context, effect) {
      const startedAt = performance.now();
      const call = log.append({
        service,
        operation,
        at: isoNow(clock),
        correlation_id: context.correlationId,
        traceparent: context.traceparent ?? null,
        request: structuredClone(request),
      });
      let outcome: CallOutcome = 'success';
      try {
        const answered = answer(operation, call, effect);
        if (timeoutMs === undefined) return await answered;
        return await withTimeout(answered, timeoutMs, () => new RetryableError({
          service,
          operation,
          reason: 'timeout',
          message: `${service}.${operation} got no answer within ${timeoutMs} ms`,
        }));
      } catch (error) {
        outcome = error instanceof TerminalError ? 'terminal' : 'retryable';
        throw error;
      } finally {
        onCall?.({ service, operation, outcome, durationSeconds: (performance.now() - startedAt) / 1000 });
        context.onOutcome?.(outcome);
      }
    },
  };
}



/** mulberry32: a small seeded PRNG, so that error rates are reproducible (no Math.random). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
