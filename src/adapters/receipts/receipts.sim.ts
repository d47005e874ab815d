import { isoNow } from '../../kernel/clock';
import { createSimulation, RecentMap, type SimulatorControls, type SimulatorDeps } from '../simulation';
import {
  RECEIPTS_OPERATIONS,
  RECEIPTS_SERVICE,
  type IssuedReceipt,
  type ReceiptsOperation,
  type ReceiptsPort,
  type VoidReceiptRequest,
} from './receipts.port';

/** The receipts service in process, with its fault injection and inspection. */
export interface ReceiptsSimulator extends ReceiptsPort, SimulatorControls<ReceiptsOperation> {
  /** Receipts issued so far (one per idempotency key), in order. */
  receipts(): Array<IssuedReceipt & { ticket_id: string; idempotency_key: string }>;
  /** Voids applied so far (one per `idempotent_id`), in order. */
  voids(): VoidReceiptRequest[];
}

/**
 * Numbers receipts `R-000001`, … and stamps `issued_at` from the clock; the same `idempotency_key`
 * returns the first receipt, the same `idempotent_id` voids once.
 */
export function createReceiptsSimulator(deps: SimulatorDeps): ReceiptsSimulator {
  const sim = createSimulation(RECEIPTS_SERVICE, RECEIPTS_OPERATIONS, deps);
  let issued = new RecentMap<string, IssuedReceipt & { ticket_id: string; idempotency_key: string }>();
  let voided = new RecentMap<string, VoidReceiptRequest>();
  sim.onReset(() => {
    issued = new RecentMap();
    voided = new RecentMap();
  });

  return {
    ...sim.controls,
    issueReceipt: (request, context) => sim.run('issueReceipt', request, context, () => {
      const existing = issued.get(request.idempotency_key);
      if (existing !== undefined) return { number: existing.number, issued_at: existing.issued_at };
      const receipt = { number: `R-${String(issued.size + 1).padStart(6, '0')}`, issued_at: isoNow(deps.clock) };
      issued.set(request.idempotency_key, { ...receipt, ticket_id: request.ticket_id, idempotency_key: request.idempotency_key });
      return receipt;
    }),
    voidReceipt: (request, context) => sim.run('voidReceipt', request, context, () => {
      if (!voided.has(request.idempotent_id)) voided.set(request.idempotent_id, { ...request });
    }),
    receipts: () => structuredClone([...issued.values()]),
    voids: () => structuredClone([...voided.values()]),
  };
}
