import type { Tx } from '../actors/ports';
import type { Logger } from '../observability/logger';
import type { BusMessage } from './ports';
import { streamOfName } from './wire';

/**
 * Where a handler's effects land, which decides how it is made idempotent:
 * - `local`: the handler writes only to the store, through `ctx.tx`, in the same transaction as its
 *   inbox row, so its effects happen exactly once;
 * - `external`: the handler calls other systems; it runs outside any transaction and its inbox row is
 *   written after it succeeds, so a crash between the call and the inbox row makes it run again. Each
 *   call must therefore be safe to repeat: a key the message carries (a command's `idempotency_key`,
 *   `refund-<ticket_id>`) or `ctx.idempotencyKey()`, or a service that answers a repeat as a success
 *   (files' 409). A handler of a service that cannot deduplicate (spreadsheets, Dead Nation) is
 *   `notRepeatable` instead.
 */
export type HandlerEffect = 'local' | 'external';

/** What a handler knows about the message it handles besides the message itself. */
export interface HandlerContext {
  /** The handler's name. */
  readonly handler: string;
  readonly messageId: string;
  readonly correlationId: string;
  /** The `traceparent` of the handling span: put it on outgoing calls and on messages this handling causes. */
  readonly traceparent: string | undefined;
  /** The message's fields without its header (`fieldsOf`). */
  readonly fields: Record<string, unknown>;
  /** Logs with `correlation_id`, `trace_id`, `actor`, `handler` and `message_id`. */
  readonly logger: Logger;
  /**
   * A key for an external call, the same on every delivery and retry of this message to this handler:
   * `<handler>:<message id>`, then `:<suffix>` for handlers that make more than one call.
   */
  idempotencyKey(suffix?: string): string;
  /**
   * The correlation id and trace context to put on a call to another service. Ask for it right before
   * each call, after any read the handler makes first: it records that this attempt reached out, which
   * decides whether a `notRepeatable` handler may be retried after a later failure (its reply, say).
   * For a `notRepeatable` handler the first ask also commits that the call starts (`calls_started`),
   * and throws instead when an earlier delivery started it and never recorded its end.
   */
  callContext(): Promise<{ correlationId: string; traceparent: string | undefined; onOutcome?: (outcome: 'success' | 'retryable' | 'terminal') => void }>;
  /**
   * True on the first attempt of the first delivery of this message to this handler. A retry, a
   * redelivery from another consumer or a redrive may follow an attempt that changed things on another
   * instance: read state from the store then, not from this instance's caches.
   */
  readonly firstDelivery: boolean;
  /**
   * For a `notRepeatable` handler: what its call answered, recorded before the handler goes on to record
   * it (a reply to an actor). When that later step fails, the next attempt on this instance gets the
   * answer from `answered()` instead of calling again, and the failure is retried like any other rather
   * than dead-lettered as a call that may have acted.
   */
  callAnswered(answer: unknown): void;
  /** The answer an earlier attempt on this instance recorded with `callAnswered`, if any. */
  answered<T>(): T | undefined;
}

/** The context of a `local` handler: its writes go through `tx`, the transaction of its inbox row. */
export interface LocalHandlerContext extends HandlerContext {
  readonly tx: Tx;
}

/** Handles one message; throwing fails the attempt. */
export type MessageHandler<C extends HandlerContext> = (message: BusMessage, ctx: C) => Promise<void> | void;

/** A handler whose effects are writes to the store (see HandlerEffect). */
export interface LocalHandlerDefinition {
  /** Names the consumer group `tickets.<name>` and the inbox rows; never rename a deployed handler. */
  name: string;
  effect: 'local';
  /** One function per message name it handles (`TicketBookingConfirmed_v1`, `BookFlight`). */
  on: Record<string, MessageHandler<LocalHandlerContext>>;
  /**
   * Its transaction may be shared with other deliveries and commits (CommitOptions.groupable): it
   * writes only rows of its own, or changes shared rows with single conditional statements.
   */
  groupable?: boolean;
}

/** A handler whose effects are calls to other systems (see HandlerEffect). */
export interface ExternalHandlerDefinition {
  /** Names the consumer group `tickets.<name>` and the inbox rows; never rename a deployed handler. */
  name: string;
  effect: 'external';
  /** One function per message name it handles (`TicketBookingConfirmed_v1`, `BookFlight`). */
  on: Record<string, MessageHandler<HandlerContext>>;
  /**
   * The service it calls does not deduplicate (the spreadsheets, Dead Nation): once an attempt has
   * reached it (`callContext`), a failure is not retried unless it says the call did nothing (refused
   * unread, 503); the message is dead-lettered at once, for an operator to check the service before
   * redriving it. A call that succeeded is never repeated because recording it failed afterwards, and
   * a call during which its instance stopped (a crash) is not made again: a row in `calls_started`,
   * committed before the call, tells the next delivery, which dead-letters the message.
   */
  notRepeatable?: boolean;
  /**
   * For a `notRepeatable` handler: what `ctx.answered()` gives once an operator has checked the service
   * and found that the call of a dead-lettered message took effect (`resolve` of the dead letters): the
   * handler goes on from this answer without calling again. Without it, such letters can only be
   * redriven, which calls again.
   */
  answerWhenTookEffect?: unknown;
}

/** What `defineHandler` takes. */
export type HandlerDefinition = LocalHandlerDefinition | ExternalHandlerDefinition;

/** A declared handler, as the consumers run it. */
export type Handler = Readonly<HandlerDefinition> & {
  /** The consumer group: `tickets.<name>`. */
  readonly group: string;
  readonly messageNames: readonly string[];
  /** The streams of the handled messages (`streamOfName`), one consumer loop each. */
  readonly streams: readonly string[];
};

const HANDLER_NAME = /^[a-z][A-Za-z0-9]*$/;

/**
 * Declares a message handler. A thrown error is retried with backoff up to the retry budget, then the
 * message is dead-lettered; throw a PoisonMessageError to dead-letter it at once.
 *
 * @example
 * export const printTickets = defineHandler({
 *   name: 'printTickets',
 *   effect: 'external',
 *   on: {
 *     TicketBookingConfirmed_v1: async (_message, ctx) => {
 *       // A repeat is a success: the files service answers 409 for a file that exists.
 *       await services.files.putTicketFile({ ticket_id: String(ctx.fields.ticket_id), content: html }, await ctx.callContext());
 *     },
 *   },
 * });
 */
export function defineHandler(definition: HandlerDefinition): Handler {
  if (!HANDLER_NAME.test(definition.name)) {
    throw new Error(`handler name "${definition.name}" must be camelCase letters and digits, e.g. printTickets`);
  }
  const messageNames = Object.keys(definition.on);
  if (messageNames.length === 0) throw new Error(`handler ${definition.name} handles no message`);
  return {
    ...definition,
    group: `tickets.${definition.name}`,
    messageNames,
    streams: messageNames.map(streamOfName),
  };
}

/**
 * A failure that retrying cannot fix (a message that can never be valid, a handler asked for a message
 * it does not handle): the message goes to the dead letters on its first failure.
 */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
  readonly retryable = false;
}
