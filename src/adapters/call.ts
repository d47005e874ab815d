/**
 * What every outgoing call carries (API.md, last paragraph of "External services"): the
 * `Correlation-ID` of the business flow and the W3C `traceparent` that the call continues.
 */
export interface CallContext {
  correlationId: string;
  traceparent?: string | undefined;
  /** Told how the call ended, for its caller's records (a handler's delivery shows a refused call as refused). */
  onOutcome?: ((outcome: CallOutcome) => void) | undefined;
}

/** How one external call ended, as seen by its caller. */
export type CallOutcome = 'success' | 'retryable' | 'terminal';

/** One finished external call, for metrics (latency and outcome per service and operation). */
export interface CallObservation {
  service: string;
  operation: string;
  outcome: CallOutcome;
  durationSeconds: number;
}

/** Listener of finished calls; it must not throw. */
export type OnCall = (observation: CallObservation) => void;
