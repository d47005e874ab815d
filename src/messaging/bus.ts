import type { BusMessage } from './ports';

/** The wire form of a message inside a stream entry (Redis field `message`, SQLite column `message`). */
export function encodeMessage(message: BusMessage): string {
  return JSON.stringify(message);
}

/**
 * Reads a message back from its wire form. Throws when the entry does not hold one: only `publish`
 * writes to bus streams, so anything else is a bug or a foreign writer, not a message to guess at.
 */
export function decodeMessage(raw: string, stream: string, entryId: string): BusMessage {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`bus entry ${entryId} of stream ${stream} is not JSON`);
  }
  if (!isBusMessage(value)) throw new Error(`bus entry ${entryId} of stream ${stream} does not hold a bus message`);
  return value;
}

function isBusMessage(value: unknown): value is BusMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  return typeof message.id === 'string' && typeof message.name === 'string' && typeof message.payload === 'object';
}

/** The error of an operation on a group that `ensureGroup` never created; worded like Redis' own. */
export function unknownGroupError(stream: string, group: string): Error {
  return new Error(`NOGROUP no consumer group ${group} on stream ${stream}`);
}

/** The error of any call after `close()`. */
export function closedBusError(): Error {
  return new Error('the bus is closed');
}

/** Rejects a `count` that asks for nothing: Redis would read COUNT 0 as "no limit", SQLite as "none". */
export function assertCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
}

/**
 * Whether `publish` should trim `stream` now, recording the time when it should: `everyMs` after the
 * last trim, and never on a stream's first publish by this bus (a service starting up publishes
 * before its consumers have created their groups).
 */
export function trimDue(trimmedAt: Map<string, number>, stream: string, everyMs: number): boolean {
  const now = performance.now();
  const last = trimmedAt.get(stream);
  if (last !== undefined && now - last < everyMs) return false;
  trimmedAt.set(stream, now);
  return last !== undefined;
}
