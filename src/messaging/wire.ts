import type { Message } from '../actors/ports';
import type { BusMessage } from './ports';

/** The stream a message travels on: `events.<Name>` for facts, `commands.<Name>` for commands. */
export const streamOf = (message: Pick<Message, 'kind' | 'name'>): string =>
  `${message.kind === 'event' ? 'events' : 'commands'}.${message.name}`;

/** The stream of a message name, by the naming rule (facts are `Name_vN`). */
export const streamOfName = (name: string): string =>
  streamOf({ name, kind: /_v\d+$/.test(name) ? 'event' : 'command' });

/**
 * A log message in its wire form: the JSON body consumers read is `{ header, ...fields }` with snake_case
 * fields, and the metadata carries the name, correlation id and trace context (API.md "Messages on the bus").
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
        idempotency_key: message.metadata.idempotency_key ?? message.id,
      },
      ...message.data,
    },
    metadata: {
      name: message.name,
      correlation_id: message.metadata.correlation_id,
      ...(message.metadata.traceparent ? { traceparent: message.metadata.traceparent } : {}),
    },
  };
}

/** The fields of a wire message without its header: what handlers work with. */
export function fieldsOf(message: BusMessage): Record<string, unknown> {
  const { header: _header, ...fields } = message.payload;
  return fields;
}
