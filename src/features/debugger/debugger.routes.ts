import { Elysia } from 'elysia';
import type { Store } from '../../actors/ports';
import type { MachineRegistry } from '../../actors/registry';
import { revokedToken, type AuthPlugin, type Tokens } from '../../http/auth';
import { problemResponses, successResponse } from '../../http/openapiProblems';
import { pageOf, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import { exportMachine, versionOf, type ExportedMachine } from './debugger.machines';
import {
  ACTOR_LIST_SCHEMA, ACTOR_REPORT_SCHEMA, ACTORS_CURSOR, ActorParams, ActorSearchQuery, BookingIdParams, IdParams, LAYOUT_SCHEMA, MACHINE_SCHEMA, toActorBody, toStepBody, toTimelineBody,
} from './debugger.model';
import { layoutMachine, type MachineLayout } from './debugger.layout';
import { deadLettersOf, deliveriesOf, failedAttemptsOf, searchActors } from './debugger.queries';
import { assembleTimeline, historyOf } from './debugger.timeline';
import debugPage from './debug.html' with { type: 'text' };

/** What the debugger routes need. */
export interface DebuggerRoutesDeps {
  registry: MachineRegistry;
  store: Store;
  auth: AuthPlugin;
  tokens: Tokens;
  /** Aborted when the service stops: open live streams end then (FeatureDeps.stopping). */
  stopping: AbortSignal;
  /** How often the live stream looks for changes. */
  pollMs?: number;
  /** Base URL of the trace UI; the page links `<base><trace id>`. */
  traceUiUrl?: string | undefined;
}

const tags = ['debugger'];

/** Every registered machine, all versions, with its kind and whether new actors start on it. */
export function exportedMachines(registry: MachineRegistry): ExportedMachine[] {
  return registry.kinds().flatMap((kind) =>
    [kind.machine, ...(kind.previous ?? [])].map((machine) => ({
      id: machine.id,
      kind: kind.kind,
      version: versionOf(machine.id),
      current: machine === kind.machine,
      definition: exportMachine(machine),
    })),
  );
}

/**
 * The built-in debugger: machine definitions as XState JSON, an actor search, each actor's timeline and
 * history (time travel from stored snapshots), and the `/debug` page that draws them. The page itself
 * holds no data and is public; everything it shows comes from the ops-only JSON routes.
 */
/**
 * The page holds an ops login and token: no other site may frame it (clickjacking), and the browser
 * must not guess its type.
 */
const DEBUG_PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
};

export function debuggerRoutes({ registry, store, auth, tokens, traceUiUrl, stopping, pollMs = 500 }: DebuggerRoutesDeps) {
  const machines = exportedMachines(registry);
  const html = (debugPage as unknown as string).replace('__TRACE_UI_URL__', JSON.stringify(traceUiUrl ?? '').slice(1, -1));

  const actorReport = async (address: string) => {
    const [actor, journal, messages, timers] = await Promise.all([store.loadActor(address), store.readJournal(address), store.readActorMessages(address), store.listTimers(address)]);
    if (actor === null && journal.length === 0 && messages.length === 0) return undefined;
    const ids = messages.map((m) => m.id);
    const [deliveries, failedAttempts, deadLetters] = await Promise.all([deliveriesOf(store, ids), failedAttemptsOf(store, ids), deadLettersOf(store, ids)]);
    return {
      address,
      kind: actor?.kind ?? address.split('/')[0],
      machine_id: actor?.machineId ?? null,
      state: actor?.state ?? null,
      status: actor?.status ?? null,
      version: actor?.version ?? 0,
      context: (actor?.snapshot as { context?: unknown } | undefined)?.context ?? null,
      updated_at: actor?.updatedAt ?? null,
      timeline: assembleTimeline({ journal, messages, deliveries, failedAttempts, deadLetters, timers }).map(toTimelineBody),
      steps: historyOf(journal).map(toStepBody),
    };
  };
  // Machines do not change while the service runs: each is laid out once, when first asked for.
  const layouts = new Map<string, MachineLayout>();
  const layoutOf = (id: string) => {
    const machine = machines.find((m) => m.id === id);
    if (machine === undefined) return undefined;
    let layout = layouts.get(id);
    if (layout === undefined) layouts.set(id, (layout = layoutMachine(machine.definition)));
    return layout;
  };
  const unknownActor = (address: string) => problem(404, 'NOT_FOUND', `unknown actor ${address}: nothing in the store under this address`);

  return new Elysia({ name: 'debugger' })
    .use(auth)
    .get('/debug', () => new Response(html, { headers: DEBUG_PAGE_HEADERS }), {
      detail: { tags, summary: 'The debugger page (data comes from the ops routes)', responses: successResponse(200, 'The page', { contentType: 'text/html' }) },
    })
    .get('/api/machines', () => machines, { auth: 'ops', detail: { tags, summary: 'Every machine, all versions, as XState JSON', responses: successResponse(200, 'XState machine JSON, one per machine version', { contentType: 'application/json', schema: { type: 'array', items: MACHINE_SCHEMA } }) } })
    .get(
      '/api/machines/:id',
      ({ params }) => machines.find((m) => m.id === params.id) ?? problem(404, 'NOT_FOUND', `unknown machine ${params.id}`),
      { params: IdParams, auth: 'ops', detail: { tags, summary: 'One machine version as XState JSON', responses: { ...problemResponses({ 404: ['NOT_FOUND'] }), ...successResponse(200, 'XState machine JSON', { contentType: 'application/json', schema: MACHINE_SCHEMA }) } } },
    )
    .get(
      '/api/machines/:id/layout',
      ({ params }) => layoutOf(params.id) ?? problem(404, 'NOT_FOUND', `unknown machine ${params.id}`),
      { params: IdParams, auth: 'ops', detail: { tags, summary: 'Where the page draws each state and transition of a machine (dagre layout)', responses: { ...problemResponses({ 404: ['NOT_FOUND'] }), ...successResponse(200, 'Positions of states and edges', { contentType: 'application/json', schema: LAYOUT_SCHEMA }) } } },
    )
    .get('/api/actors', async ({ query, request, set }) => {
      const rows = await searchActors(store, { ...query, after: query.cursor });
      const page = pageOf(rows, query.limit, request.url, ACTORS_CURSOR, (row) => [row.updatedAt, row.address]);
      if (page.link) set.headers.link = page.link;
      return page.items.map(toActorBody);
    }, {
      query: ActorSearchQuery,
      auth: 'ops',
      detail: { tags, summary: 'Find actors by kind, state, id or customer e-mail, most recently changed first', description: '?limit= 1..100 (default 50), next page in Link.', responses: pageResponse({ contentType: 'application/json', schema: ACTOR_LIST_SCHEMA }) },
    })
    .get('/api/actors/:address/timeline', async ({ params }) => (await actorReport(params.address)) ?? unknownActor(params.address), {
      params: ActorParams,
      auth: 'ops',
      detail: { tags, summary: "One actor's timeline and history", responses: { ...problemResponses({ 404: ['NOT_FOUND'] }), ...successResponse(200, 'Timeline and history', { contentType: 'application/json', schema: ACTOR_REPORT_SCHEMA }) } },
    })
    // EventSource cannot send headers, so this one stream takes the ops token as `?access_token=`.
    .get('/api/actors/:address/events', async ({ params, query, request }) => {
      const verified = tokens.verify(typeof query.access_token === 'string' ? query.access_token : '');
      if (!verified.ok) return problem(401, 'UNAUTHORIZED', 'This stream needs a valid ?access_token=');
      if (verified.user.role !== 'ops') return problem(403, 'FORBIDDEN', 'This route needs the ops role');
      if (!(await tokens.opsStanding(verified.user))) throw revokedToken();
      return liveStream(store, params.address, AbortSignal.any([request.signal, stopping]), pollMs);
    }, {
      params: ActorParams,
      detail: {
        tags,
        summary: 'Server-sent `changed` events when the actor changes',
        // EventSource sends no Authorization header: the ops token comes in the query.
        parameters: [{ name: 'access_token', in: 'query', required: true, description: 'An access token of the ops role', schema: { type: 'string' } }],
        responses: { ...problemResponses({ 401: ['UNAUTHORIZED'], 403: ['FORBIDDEN'] }), ...successResponse(200, 'Event stream', { contentType: 'text/event-stream' }) },
      },
    })
    .get(
      '/api/bookings/:id/timeline',
      async ({ params }) =>
        (await actorReport(`booking/${params.id}`))
        ?? (await actorReport(`hold/${params.id}`))
        ?? (await actorReport(`vipBundle/${params.id}`))
        ?? problem(404, 'NOT_FOUND', `no booking, hold or VIP bundle with id ${params.id}`),
      {
        params: BookingIdParams,
        auth: 'ops',
        detail: {
          tags,
          summary: "One booking's timeline and history",
          description: 'A booking of book-tickets or of a VIP bundle (`booking/<id>`), one bought through a hold (`hold/<id>`), or a VIP bundle by its own id (`vipBundle/<id>`).',
          responses: { ...problemResponses({ 404: ['NOT_FOUND'] }), ...successResponse(200, 'Timeline and history', { contentType: 'application/json', schema: ACTOR_REPORT_SCHEMA }) },
        },
      },
    );
}

/** An SSE stream that sends `changed` (with the new version) whenever the stored actor's version moves. */
function liveStream(store: Store, address: string, signal: AbortSignal, pollMs: number): Response {
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const end = () => {
        clearInterval(timer);
        try {
          controller.close();
        } catch {
          // already closed by the client going away
        }
      };
      // Listened to before the first read, so that a stop during it still ends the stream.
      signal.addEventListener('abort', end);
      let version = (await store.loadActor(address))?.version ?? 0;
      if (signal.aborted) return end();
      controller.enqueue(encoder.encode(`event: ready\ndata: ${JSON.stringify({ version })}\n\n`));
      timer = setInterval(() => {
        void store.loadActor(address).then(
          (actor) => {
            if ((actor?.version ?? 0) === version) return controller.enqueue(encoder.encode(': keep-alive\n\n'));
            version = actor?.version ?? 0;
            controller.enqueue(encoder.encode(`event: changed\ndata: ${JSON.stringify({ version, state: actor?.state ?? null })}\n\n`));
          },
          () => undefined,
        );
      }, pollMs);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' } });
}
