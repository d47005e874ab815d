/**
 * The bus port: durable streams with consumer groups. Two implementations (Redis Streams for
 * distributed mode, SQLite for embedded mode) are held to one contract suite (test/int/bus.contract.ts).
 *
 * Semantics (both implementations):
 * - `publish` appends in the given order; a stream keeps its order for every group.
 * - A group reads each entry once (`readNew`) until it is acked; an unacked entry stays pending and can
 *   be taken over by another consumer with `claimIdle` once it has been idle long enough; every read or
 *   claim increments its delivery count.
 * - A group created after entries were published still sees all of them (groups start at the beginning),
 *   except those `trim` removed.
 * - Publishing is keyed by message `id` per stream: a message whose id was already published to that
 *   stream is skipped (the others of the batch are appended, in order), so re-sends by the outbox and
 *   its reconciler are harmless. Both remember published ids for PUBLISHED_MEMORY_MS (a day): Redis
 *   in marker keys that expire, SQLite in the entries themselves, which `trim` keeps that long.
 *   Consumers still deduplicate by id: delivery to a group is at least once.
 * - `trim` removes the entries that every group of the stream has acknowledged (none pending, none
 *   undelivered); a stream that no group reads keeps its entries for a retention time (Redis: an hour,
 *   long enough for a rolling upgrade to create the group of a new handler; SQLite: as long as it
 *   remembers published ids). `publish` trims the stream it appends to, at most once per
 *   `trimEveryMs` (default TRIM_EVERY_MS), so no stream grows for ever.
 */

/**
 * How long a bus remembers the ids it published, to skip re-sends: far longer than any outbox,
 * reconciler or delivery audit lags, and shorter than the handlers' inbox is kept (messaging/retention.ts),
 * which skips what comes again later. Every published message costs a marker (Redis) or an entry
 * (SQLite) for this long: a week of them was gigabytes at a modest steady rate.
 */
export const PUBLISHED_MEMORY_MS = 24 * 60 * 60 * 1000;
/** How often `publish` trims the stream it appends to. */
export const TRIM_EVERY_MS = 60_000;

/** One message as it travels on the bus: the log's message plus its wire form. */
export interface BusMessage {
  /** The message id (event id): the deduplication key of every consumer. */
  id: string;
  name: string;
  kind: 'event' | 'command';
  actor: string;
  actorSeq: number;
  /** Global position in the event log. */
  position: number;
  /** The JSON body as consumers see it: `{ header: { id, published_at, idempotency_key }, ...fields }`. */
  payload: Record<string, unknown>;
  /** `idempotency_key`: the Idempotency-Key of the request that caused the message, when it had one. */
  metadata: { name: string; correlation_id: string; traceparent?: string; idempotency_key?: string };
}

export interface BusEntry {
  /** The stream entry id (Redis `1700000000000-0` form or its SQLite equivalent). */
  entryId: string;
  stream: string;
  message: BusMessage;
  /** How many times this entry has been delivered to the group, this delivery included. */
  deliveries: number;
}

export interface Bus {
  /** Appends the messages it has not published before (by id), in order; resolves to how many it appended. */
  publish(stream: string, messages: BusMessage[]): Promise<number>;
  /**
   * Appends again each message whose entry the stream no longer holds (trimmed, or lost with the stream
   * in a Redis that restarted empty), whether or not it was published before; leaves alone those still
   * on it. For the delivery audit, which sends only messages a handler is known not to have processed.
   */
  republish(stream: string, messages: BusMessage[]): Promise<number>;
  /** Creates the group if missing (reading from the start of the stream). Idempotent. */
  ensureGroup(stream: string, group: string): Promise<void>;
  /** Entries never delivered to the group, oldest first; waits up to `blockMs` when there are none. */
  readNew(stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<BusEntry[]>;
  /** Takes over pending entries idle for at least `minIdleMs` (a dead consumer's), oldest first. */
  claimIdle(stream: string, group: string, consumer: string, minIdleMs: number, count: number): Promise<BusEntry[]>;
  /**
   * Makes these pending entries of `consumer` idle no more (their delivery count unchanged), so that
   * no other consumer's `claimIdle` takes them while this one still works on them. Entries acked, or
   * taken over by another consumer meanwhile, are left as they are.
   */
  keepClaimed(stream: string, group: string, consumer: string, entryIds: string[]): Promise<void>;
  ack(stream: string, group: string, entryIds: string[]): Promise<void>;
  /** Entries not yet delivered to the group plus entries delivered but not acked. */
  lag(stream: string, group: string): Promise<{ undelivered: number; pending: number }>;
  /**
   * When the oldest entry the group has not acked (delivered or not) was appended, in epoch ms; null
   * when it has acked everything. How long the group's backlog has kept a message waiting.
   */
  oldestUnacked(stream: string, group: string): Promise<number | null>;
  /** Removes the entries every group of the stream has acknowledged, or that no group reads (see above); resolves to how many. */
  trim(stream: string): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
