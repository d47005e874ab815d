import { Elysia } from 'elysia';
import { z } from 'zod';
import { startServer } from '../http/server';
import { systemClock, type Clock } from '../kernel/clock';
import { randomIds, type IdSource } from '../kernel/ids';
import type { CallContext } from './call';
import { BookTicketsRequest } from './deadNation/deadNation.port';
import { RetryableError, TerminalError } from './errors';
import { PutTicketFileRequest, ticketFileName } from './files/files.port';
import { CORRELATION_ID_HEADER, TRACEPARENT_HEADER } from './httpClient';
import { createSimulators, SERVICE_NAMES, type ServiceName, type Simulators } from './index';
import { ChargeRequest, RefundRequest } from './payments/payments.port';
import { IssueReceiptRequest, VoidReceiptRequest } from './receipts/receipts.port';
import type { Fault, SimulatorControls } from './simulation';
import { AppendRowRequest } from './spreadsheets/spreadsheets.port';
import { BookFlightRequest, BookTaxiRequest, CancelFlightTicketRequest } from './transportation/transportation.port';

const FaultSchema: z.ZodType<Fault> = z.union([
  z.literal('retryable'),
  z.literal('terminal'),
  z.object({ status: z.number().int().min(400).max(599) }),
]);

/** Body of `POST /_sim/faults`. Without `service`, error rate and latency apply to every service. */
// Strict: a misspelt setting must be refused, not silently left out.
const FaultsRequest = z.strictObject({
  service: z.enum(SERVICE_NAMES as [ServiceName, ...ServiceName[]]).optional(),
  operation: z.string().min(1).optional(),
  fail_next: z.strictObject({
    count: z.number().int().min(0),
    fault: FaultSchema,
    after_effect: z.boolean().optional(),
  }).optional(),
  error_rate: z.strictObject({
    rate: z.number().min(0).max(1),
    seed: z.number().int().optional(),
    fault: FaultSchema.optional(),
  }).optional(),
  latency_ms: z.number().min(0).optional(),
});
type FaultsRequest = z.infer<typeof FaultsRequest>;

/** Thrown by a handler to answer 400 (a request the real service would refuse as malformed). */
class BadRequest extends Error {
  constructor(message: string, readonly issues: unknown = undefined) {
    super(message);
  }
}

const FILE_NAME = /^(.+)-ticket\.html$/;

/**
 * The simulators served over HTTP on the exact paths of API.md ("External services"), so that the
 * HTTP clients talk to them as to the real services, plus control endpoints for tests that run the
 * service as a separate process:
 * - `GET /health`: 200 `ok` (for health checks; not a call of any service);
 * - `GET /_sim/calls[?service=&operation=]`: the call log;
 * - `POST /_sim/reset`: forget all state, calls and faults;
 * - `POST /_sim/faults` `{"service","operation","fail_next":{"count","fault","after_effect"},"error_rate":{"rate","seed","fault"},"latency_ms"}`.
 * A fault is `"retryable"` (503), `"terminal"` (400) or `{"status"}`; simulated failures answer with that
 * status and a JSON body, 429 with `Retry-After`.
 */
export function createGatewayApp(simulators: Simulators) {
  const { receipts, payments, files, spreadsheets, deadNation, transportation } = simulators;

  return new Elysia({ name: 'simulated-gateway' })
    .onError(({ error, code }) => {
      if (error instanceof RetryableError || error instanceof TerminalError) {
        const headers: Record<string, string> = {};
        if (error instanceof RetryableError && error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
        return json(error.status ?? 503, error.body ?? { error: error.message }, headers);
      }
      if (error instanceof BadRequest) return json(400, { error: error.message, issues: error.issues });
      if (error instanceof RangeError) return json(400, { error: error.message });
      if (code === 'NOT_FOUND') return json(404, { error: 'not found' });
      return json(500, { error: error instanceof Error ? error.message : String(error) });
    })
    .put('/receipts-api/receipts', async ({ request }) =>
      json(200, await receipts.issueReceipt(await jsonBody(request, IssueReceiptRequest), callContext(request))))
    .put('/receipts-api/void-receipt', async ({ request }) => {
      await receipts.voidReceipt(await jsonBody(request, VoidReceiptRequest), callContext(request));
      return noContent();
    })
    .put('/payments-api/refunds', async ({ request }) => {
      await payments.refund(await jsonBody(request, RefundRequest), callContext(request));
      return noContent();
    })
    .put('/payments-api/payments', async ({ request }) =>
      json(200, await payments.charge(await jsonBody(request, ChargeRequest), callContext(request))))
    .put('/files-api/files/:fileName/content', async ({ request, params }) => {
      const ticketId = FILE_NAME.exec(params.fileName)?.[1];
      if (ticketId === undefined) throw new BadRequest(`unsupported file name ${params.fileName}: expected <ticket_id>-ticket.html`);
      const input = parse(PutTicketFileRequest, { ticket_id: ticketId, content: await request.text() });
      const stored = await files.putTicketFile(input, callContext(request));
      return stored.created ? json(201, { file_name: stored.file_name }) : json(409, { error: `${ticketFileName(ticketId)} already exists` });
    })
    .post('/spreadsheets-api/sheets/:sheet/rows', async ({ request, params }) => {
      const body = await jsonBody(request, AppendRowRequest.omit({ sheet: true }));
      await spreadsheets.appendRow(parse(AppendRowRequest, { sheet: params.sheet, columns: body.columns }), callContext(request));
      return noContent();
    })
    .post('/dead-nation-api/ticket/booking', async ({ request }) => {
      await deadNation.bookTickets(await jsonBody(request, BookTicketsRequest), callContext(request));
      return noContent();
    })
    .put('/transportation-api/flight-tickets', async ({ request }) =>
      json(200, await transportation.bookFlight(await jsonBody(request, BookFlightRequest), callContext(request))))
    .delete('/transportation-api/flight-tickets/:ticketId', async ({ request, params }) => {
      await transportation.cancelFlightTicket(parse(CancelFlightTicketRequest, { ticket_id: params.ticketId }), callContext(request));
      return noContent();
    })
    .put('/transportation-api/taxi-booking', async ({ request }) =>
      json(200, await transportation.bookTaxi(await jsonBody(request, BookTaxiRequest), callContext(request))))
    .get('/health', () => new Response('ok', { headers: { 'content-type': 'text/plain; charset=utf-8' } }))
    .get('/_sim/calls', ({ query }) => json(200, simulators.calls({ service: query.service, operation: query.operation })))
    .post('/_sim/reset', () => {
      simulators.reset();
      return noContent();
    })
    .post('/_sim/faults', async ({ request }) => {
      applyFaults(simulators, await jsonBody(request, FaultsRequest));
      return noContent();
    });
}

/** Where the gateway listens, and the time and ids its simulators use (system ones by default). */
export interface GatewayOptions {
  /** 0 picks a free port. */
  port: number;
  hostname?: string;
  clock?: Clock;
  ids?: IdSource;
  shutdownTimeoutMs?: number;
}

/** A running gateway: its simulators are in this process, for tests to inspect and drive directly. */
export interface RunningGateway {
  readonly port: number;
  /** `http://localhost:<port>`: the `GATEWAY_ADDR` of services that should use it. */
  readonly url: string;
  readonly simulators: Simulators;
  stop(graceful?: boolean): Promise<void>;
}

/** Serves fresh simulators over HTTP (what `tickets gateway` runs). Calls take their latency: no timeout here. */
export function startGateway(options: GatewayOptions): RunningGateway {
  const simulators = createSimulators({ clock: options.clock ?? systemClock, ids: options.ids ?? randomIds });
  const server = startServer(createGatewayApp(simulators), options.port, {
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
    ...(options.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: options.shutdownTimeoutMs }),
  });
  return {
    port: server.port,
    url: `http://${options.hostname ?? 'localhost'}:${server.port}`,
    simulators,
    stop: async (graceful) => {
      await server.stop(graceful);
    },
  };
}

function applyFaults(simulators: Simulators, request: FaultsRequest): void {
  if (request.operation !== undefined && request.service === undefined) throw new BadRequest('operation needs service');
  const targets: SimulatorControls[] = request.service === undefined
    ? SERVICE_NAMES.map((name) => simulators.controls(name))
    : [simulators.controls(request.service)];
  if (request.operation !== undefined && !targets[0]!.operations.includes(request.operation)) {
    throw new BadRequest(`${request.service} has no operation ${request.operation}; its operations: ${targets[0]!.operations.join(', ')}`);
  }
  if (request.fail_next !== undefined && (request.service === undefined || request.operation === undefined)) throw new BadRequest('fail_next needs service and operation');
  // All or nothing: every fault is checked against every target before anything is set.
  for (const target of targets) {
    if (request.fail_next !== undefined) target.checkFault(request.fail_next.fault, request.operation);
    if (request.error_rate?.fault !== undefined) target.checkFault(request.error_rate.fault, request.operation);
  }
  if (request.fail_next !== undefined) {
    const { count, fault, after_effect } = request.fail_next;
    simulators.controls(request.service!).failNext(request.operation!, count, fault, { afterEffect: after_effect ?? false });
  }
  for (const target of targets) {
    if (request.error_rate !== undefined) {
      target.setErrorRate(request.error_rate.rate, { operation: request.operation, seed: request.error_rate.seed, fault: request.error_rate.fault });
    }
    if (request.latency_ms !== undefined) target.setLatency(request.latency_ms, { operation: request.operation });
  }
}

function callContext(request: Request): CallContext {
  return {
    correlationId: request.headers.get(CORRELATION_ID_HEADER) ?? '',
    traceparent: request.headers.get(TRACEPARENT_HEADER) ?? undefined,
  };
}

async function jsonBody<T>(request: Request, schema: z.ZodType<T>): Promise<T> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new BadRequest(`expected application/json, got ${type || 'no content type'}`);
  let body: unknown;
  try {
    body = JSON.parse(await request.text());
  } catch {
    throw new BadRequest('malformed JSON');
  }
  return parse(schema, body);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  // Every issue with its path, an unknown key included (the flattened form leaves those out).
  if (!parsed.success) throw new BadRequest('invalid request', parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  return parsed.data;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

const noContent = () => new Response(null, { status: 204 });
