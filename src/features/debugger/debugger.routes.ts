import { createHash } from 'node:crypto';
import { Elysia } from 'elysia';
import type { JournalEntry, Message, Store, StoredActor } from '../../actors/ports';
import type { MachineRegistry } from '../../actors/registry';
import { forbidden, revokedToken, unauthorized, type AuthPlugin, type Tokens } from '../../http/auth';
import { BEARER_SCHEME, problemResponses, successResponse } from '../../http/openapiProblems';
import { pageOf, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import { exportMachine, versionOf, type ExportedMachine } from './debugger.machines';
import {
  ACTOR_LIST_SCHEMA, ACTOR_REPORT_SCHEMA, ACTORS_CURSOR, ActorParams, ActorSearchQuery, BookingIdParams, IdParams, LAYOUT_SCHEMA, MACHINE_SCHEMA, toActorBody, toStepBody, toTimelineBody,
} from './debugger.model';
import { layoutMachine, type MachineLayout } from './debugger.layout';
import { deadLettersOf, deliveriesOf, deliveryActivityOf, failedAttemptsOf, searchActors } from './debugger.queries';
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
  /** How often the live stream asks again whether its token has expired or been revoked (a store query). */
  recheckMs?: number;
  /** After how long with nothing sent the live stream sends a comment, so that proxies keep it open. */
  keepAliveMs?: number;
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
 * The page holds an ops login and token: no other site may frame it (clickjacking), the browser must
 * not guess its type, and it runs no script but its own. It shows text that customers wrote (names,
 * e-mails, seat labels), always as text; should that ever slip, the policy still refuses any script
 * that is not the page's one inline script (allowed by its hash), and any call to another origin.
 */
function debugPageHeaders(html: string): Record<string, string> {
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(([, source]) => `'sha256-${createHash('sha256').update(source ?? '', 'utf8').digest('base64')}'`);
  const policy = [
    "default-src 'none'",
    `script-src ${scripts.join(' ')}`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ];
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': policy.join('; '),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  };
}

/**
 * `value` as a JavaScript string literal that stays text inside an inline script: `<`, `>` and `&`
 * escaped so that no `</script>` or `<!--` can end or change the element, U+2028/U+2029 so that no
 * older engine reads a line end inside the string.
 */
const scriptLiteral = (value: string) =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * The built-in debugger: machine definitions as XState JSON, an actor search, each actor's timeline and
 * history (time travel from stored snapshots), and the `/debug` page that draws them. The page itself
 * holds no data and is public; everything it shows comes from the ops-only JSON routes.
 */
export function debuggerRoutes({ registry, store, auth, tokens, traceUiUrl, stopping, pollMs = 500, recheckMs = 5_000, keepAliveMs = 15_000 }: DebuggerRoutesDeps) {
  const machines = exportedMachines(registry);
  // A function, so that `$&` and the like in the value are not replacement patterns.
  const html = (debugPage as unknown as string).replace('__TRACE_UI_URL__', () => scriptLiteral(traceUiUrl ?? ''));
  const pageHeaders = debugPageHeaders(html);

  /** What the store holds under an address, or undefined when it holds nothing there (404 for the timeline and the stream alike). */
  const storedAt = async (address: string): Promise<{ actor: StoredActor | null; journal: JournalEntry[]; messages: Message[] } | undefined> => {
    const [actor, journal, messages] = await Promise.all([store.loadActor(address), store.readJournal(address), store.readActorMessages(address)]);
    return actor === null && journal.length === 0 && messages.length === 0 ? undefined : { actor, journal, messages };
  };
  const actorReport = async (address: string) => {
    const [stored, timers] = await Promise.all([storedAt(address), store.listTimers(address)]);
    if (stored === undefined) return undefined;
    const { actor, journal, messages } = stored;
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
  /** The stream's token: `?access_token=` (EventSource sends no headers), else the Authorization header. */
  const streamAuthorization = (query: Record<string, unknown>, request: Request) =>
    typeof query.access_token === 'string' ? `Bearer ${query.access_token}` : (request.headers.get('authorization') ?? '');
  /** Why the stream's token does not do, or undefined; verified anew at each call (its expiry, by the clock), as the auth option would. */
  const streamRefusal = async (authorization: string): Promise<'invalid' | 'forbidden' | 'revoked' | undefined> => {
    let user: ReturnType<typeof tokens.userOf>;
    try {
      user = tokens.userOf(new Request('http://localhost/', { headers: { authorization } }));
    } catch {
      // A token with characters no header may carry (`?access_token=a%0Ab`) is no token.
      return 'invalid';
    }
    if (user === undefined) return 'invalid';
    if (user.role !== 'ops') return 'forbidden';
    return (await tokens.opsStanding(user)) ? undefined : 'revoked';
  };

  return new Elysia({ name: 'debugger' })
    .use(auth)
    .get('/debug', () => new Response(html, { headers: pageHeaders }), {
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
    // EventSource cannot send headers, so this one stream also takes the ops token as `?access_token=`.
    .get('/api/actors/:address/events', async ({ params, query, request }) => {
      const authorization = streamAuthorization(query, request);
      const stored = await storedAt(params.address);
      if (stored === undefined) return unknownActor(params.address);
      return liveStream({
        store,
        address: params.address,
        version: stored.actor?.version ?? 0,
        activity: await deliveryActivityOf(store, params.address),
        // The role is in the token and cannot change: what a recheck finds is an expired or a revoked token.
        endReason: async () => {
          const why = await streamRefusal(authorization);
          return why === undefined ? undefined : why === 'revoked' ? 'token_revoked' : 'token_expired';
        },
        signal: AbortSignal.any([request.signal, stopping]),
        pollMs,
        recheckMs,
        keepAliveMs,
      });
    }, {
      params: ActorParams,
      // Before validation, as the auth option does: a caller without a valid ops token learns nothing about the address.
      async transform({ query, request }) {
        const authorization = streamAuthorization(query, request);
        const refused = await streamRefusal(authorization);
        if (refused === 'invalid') throw unauthorized('This stream needs a valid ops token, as Authorization: Bearer or ?access_token=', /^Bearer +\S/i.test(authorization));
        if (refused === 'forbidden') throw forbidden('ops');
        if (refused === 'revoked') throw revokedToken();
      },
      detail: {
        tags,
        summary: 'Server-sent `changed` events when the actor changes',
        description: 'The ops token comes as Authorization: Bearer or, for EventSource (which sends no headers), as ?access_token=. '
          + 'It is checked again every few seconds: once it expires or its account changes, an `end` event (`{"reason":"token_expired"}` or `"token_revoked"`) ends the stream.',
        // Either the bearer header or, without it, the query parameter.
        security: [{ [BEARER_SCHEME]: [] }, {}],
        parameters: [{ name: 'access_token', in: 'query', required: false, description: 'An access token of the ops role, for clients that cannot send Authorization', schema: { type: 'string' } }],
        responses: { ...problemResponses({ 401: ['UNAUTHORIZED'], 403: ['FORBIDDEN'], 404: ['NOT_FOUND'] }), ...successResponse(200, 'Event stream', { contentType: 'text/event-stream' }) },
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

/** Why a live stream ends before its client or the service closes it. */
type EndReason = 'token_expired' | 'token_revoked';

interface LiveStreamOptions {
  store: Store;
  address: string;
  /** The actor's version when the stream opens. */
  version: number;
  /** What its messages had been through when the stream opens (deliveryActivityOf). */
  activity: string;
  /** Undefined while the stream's token still holds; else why it no longer does. */
  endReason: () => Promise<EndReason | undefined>;
  signal: AbortSignal;
  pollMs: number;
  recheckMs: number;
  keepAliveMs: number;
}

/**
 * An SSE stream that sends `changed` (with the new version) whenever the stored actor's version moves
 * or its messages gain a delivery, a failed attempt or a dead letter (or one is redriven),
 * a keep-alive comment when nothing else was sent for keepAliveMs, and `end` (then closes) once its
 * token no longer holds. One poll at a time: a slow store delays the next poll rather than piling them up.
 */
function liveStream({ store, address, version, activity, endReason, signal, pollMs, recheckMs, keepAliveMs }: LiveStreamOptions): Response {
  const encoder = new TextEncoder();
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let sentAt = performance.now();
      let checkedAt = sentAt;
      const send = (text: string) => {
        controller.enqueue(encoder.encode(text));
        sentAt = performance.now();
      };
      const end = () => {
        if (closed) return;
        closed = true;
        clearTimeout(timer);
        try {
          controller.close();
        } catch {
          // already closed by the client going away
        }
      };
      const poll = async () => {
        try {
          if (performance.now() - checkedAt >= recheckMs) {
            const reason = await endReason();
            // Only a check that answered counts: a failed one is made again at the next poll.
            checkedAt = performance.now();
            if (closed) return;
            if (reason !== undefined) {
              send(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
              return end();
            }
          }
          const [actor, seen] = await Promise.all([store.loadActor(address), deliveryActivityOf(store, address)]);
          if (closed) return;
          if ((actor?.version ?? 0) !== version || seen !== activity) {
            version = actor?.version ?? 0;
            activity = seen;
            send(`event: changed\ndata: ${JSON.stringify({ version, state: actor?.state ?? null })}\n\n`);
          } else if (performance.now() - sentAt >= keepAliveMs) {
            send(': keep-alive\n\n');
          }
        } catch {
          // the store failed this once (or is closing with the service): the next poll tries again
        }
        if (!closed) timer = setTimeout(poll, pollMs);
      };
      signal.addEventListener('abort', end);
      // The stop may have come while the route looked the actor up.
      if (signal.aborted) return end();
      send(`event: ready\ndata: ${JSON.stringify({ version })}\n\n`);
      timer = setTimeout(poll, pollMs);
    },
    cancel() {
      closed = true;
      clearTimeout(timer);
    },
  });
  // Buffering proxies (nginx) would hold the events back: X-Accel-Buffering asks them not to.
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' } });
}
