import type { Message } from '../actors/ports';
import type { BusMessage } from './ports';

/** The stream a message travels on: `events.<Name>` for facts, `commands.<Name>` for commands. */
export const streamOf = (message: Pick<Message, 'kind' | 'name'>): string =>
  `${message.kind === 'event' ? 'events' : 'commands'}.${message.name}`;

/** The stream of a message name, by the naming rule (facts are `Name_vN`). */
export const streamOfName = (name: string): string =>
  streamOf({ name, kind: /_v\d+$/.test(name) ? 'event' : 'command' });

/**
 * The message's own idempotency key in its header: one request may cause several messages (a webhook's
 * tickets, a bundle's first fact and its command), so the request's key is extended with the message's
 * place in its actor's history, which is unique and the same on every delivery; a message no request
 * key caused is keyed by its id.
 */
const headerKeyOf = (message: Pick<Message, 'id' | 'actor' | 'actorSeq' | 'metadata'>): string =>
  message.metadata.idempotency_key === undefined ? message.id : `${message.metadata.idempotency_key}-${message.actor}-${message.actorSeq}`;

/**
 * A log message in its wire form: the JSON body consumers read is `{ header, ...fields }` with snake_case
 * fields, and the metadata carries the name, correlation id, trace context (API.md "Messages on the bus")
 * and the key of the request that caused it, if any.
 */
export function toBusMessage(message: Message, publishedAt: string): BusMessage {
  return {
    id: message.id,
    name: message.name,
    kind: message.kind,
    actor: message.actor,
    actorSeq: message.actorSeq,
    position: message.position,
    payload: {
      header: {
        id: message.id,
        published_at: publishedAt,
        idempotency_key: headerKeyOf(message),
      },
      ...message.data,
    },
    metadata: {
      name: message.name,
      correlation_id: message.metadata.correlation_id,
      ...(message.metadata.traceparent ? { traceparent: message.metadata.traceparent } : {}),
      ...(message.metadata.idempotency_key === undefined ? {} : { idempotency_key: message.metadata.idempotency_key }),
    },
  };
}

/** The fields of a wire message without its header: what handlers work with. */
export function fieldsOf(message: BusMessage): Record<string, unknown> {
  const { header: _header, ...fields } = message.payload;
  return fields;
}
