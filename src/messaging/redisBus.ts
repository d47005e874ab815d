import type { Redis } from 'ioredis';
import { assertCount, closedBusError, decodeMessage, encodeMessage, trimDue, unknownGroupError } from './bus';
import { PUBLISHED_MEMORY_MS, TRIM_EVERY_MS, type Bus, type BusEntry, type BusMessage } from './ports';
import { errorMessage, RedisConnection, redisOptions } from './redisConnection';

export interface RedisBusOptions {
  /** `redis://host:port`: any URL ioredis accepts, `rediss://` and credentials included (config turns `host:port` into one). */
  url: string;
  /** Prepended to every stream name to make its key, e.g. `test:<random>:` to isolate a test run. */
  keyPrefix?: string;
  /** How often `publish` trims a stream (default TRIM_EVERY_MS; tests use 0: on every publish). */
  trimEveryMs?: number;
  /** How long a stream that no group reads keeps its entries (default an hour; tests use 0). */
  unreadRetentionMs?: number;
  /** How long a consumer may stay idle with nothing pending before a trim forgets it (default an hour). */
  staleConsumerMs?: number;
}

/**
 * The bus on Redis Streams (Redis 7+): one entry per message with the JSON message in the field
 * `message`, one consumer group per handler. See ports.ts for the semantics. Publishing is keyed by
 * message id: a marker key `<keyPrefix>published:<stream>:<id>` (kept PUBLISHED_TTL_SECONDS) is set with
 * the entry in one script, and a message whose marker exists is skipped.
 *
 * Connections: non-blocking commands share one connection; every consumer name that makes blocking
 * reads gets its own (a blocked XREADGROUP holds its connection), created on its first read and closed
 * by `close()`. Connections (redisConnection.ts) open on first use and never queue commands while
 * disconnected: during an outage every call rejects at once (or within a timeout when the server hangs)
 * instead of waiting, because the caller (the outbox publisher, a consumer loop) keeps its own buffer and
 * retries. ioredis reconnects in the background, and calls succeed again once it has.
 */
export function createRedisBus(opts: RedisBusOptions): Bus {
  return new RedisBus(
    opts.url,
    opts.keyPrefix ?? '',
    opts.trimEveryMs ?? TRIM_EVERY_MS,
    opts.unreadRetentionMs ?? UNREAD_RETENTION_MS,
    opts.staleConsumerMs ?? STALE_CONSUMER_MS,
  );
}

const COMMAND_TIMEOUT_MS = 2_000;
/**
 * How long after its BLOCK time a blocking read is given up client-side (it then returns no entries).
 * Generous, because an entry the server delivers after that stays pending until `claimIdle`.
 */
const BLOCKING_GRACE_MS = 2_000;
const MESSAGE_FIELD = 'message';
const LAG_COUNT_PAGE = 1_000;
const PUBLISHED_TTL_SECONDS = PUBLISHED_MEMORY_MS / 1000;
const UNREAD_RETENTION_MS = 60 * 60 * 1000;
/**
 * A consumer idle this long with nothing pending is gone (an instance that stopped: each start reads
 * under a new name). Live consumers read every second or so; one that reads again is created again.
 */
const STALE_CONSUMER_MS = 60 * 60 * 1000;

/**
 * Appends each message whose id was not yet published to the stream, in order, in one atomic step: the
 * `published:<stream>:<id>` marker is set only if absent, and the entry is added only when it was; the
 * marker then holds the entry's id (for REPUBLISH_SCRIPT). KEYS[1] stream key, KEYS[2..] marker keys;
 * ARGV ttl seconds, field name, then the encoded messages in the order of their markers. Returns how
 * many entries were appended.
 */
const PUBLISH_SCRIPT = `
local appended = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    local id = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[i + 1])
    redis.call('SET', KEYS[i], id, 'KEEPTTL')
    appended = appended + 1
  end
end
return appended
`;

/**
 * Like PUBLISH_SCRIPT, but appends a message again when the entry its marker names is no longer on the
 * stream (trimmed after its groups acknowledged it, or lost with the stream), or when it has no marker.
 * A message still on the stream (undelivered, or pending in a group) is left alone.
 */
const REPUBLISH_SCRIPT = `
local appended = 0
for i = 2, #KEYS do
  local id = redis.call('GET', KEYS[i])
  local present = false
  if id then
    local ok, entries = pcall(redis.call, 'XRANGE', KEYS[1], id, id)
    present = ok and #entries > 0
  end
  if not present then
    local added = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[i + 1])
    redis.call('SET', KEYS[i], added, 'EX', ARGV[1])
    appended = appended + 1
  end
end
return appended
`;

/**
 * XAUTOCLAIM, then XPENDING for each claimed entry, in one script so that the delivery counts are
 * exactly those of this claim. XAUTOCLAIM scans a bounded part of the pending list per call, so it
 * loops until `count` entries are claimed or the whole list is scanned.
 * KEYS[1] stream key; ARGV group, consumer, min idle ms, count. Returns [id, fields, deliveries][].
 */
const CLAIM_IDLE_SCRIPT = `
local wanted = tonumber(ARGV[4])
local claimed = {}
local cursor = '0-0'
repeat
  local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', wanted - #claimed)
  cursor = reply[1]
  for _, entry in ipairs(reply[2]) do
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    claimed[#claimed + 1] = { entry[1], entry[2], pending[1][4] }
  end
until cursor == '0-0' or #claimed >= wanted
return claimed
`;

/**
 * XCLAIM with no minimum idle time and JUSTID (which resets the idle time and leaves the delivery count
 * alone) of each entry that ARGV[2] still holds: checked first, since XCLAIM would take it from anyone.
 * KEYS[1] stream key; ARGV group, consumer, entry ids.
 */
const KEEP_CLAIMED_SCRIPT = `
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if pending[1] ~= nil and pending[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return 0
`;

/**
 * Trims a stream to what some group still needs, in one atomic step: for each group the oldest pending
 * entry, or when none is pending the entry after its last delivered one; XTRIM MINID removes every
 * entry below the lowest of these. A stream without groups is trimmed below ARGV[1] (an entry id:
 * the end of its retention time). On the way it deletes each consumer idle more than ARGV[2] ms with
 * nothing pending (its pending entries, had it any, would be lost with it).
 * KEYS[1] stream key. Returns how many entries were removed.
 */
const TRIM_SCRIPT = `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local floor = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], info['name'])) do
    local c = {}
    for i = 1, #consumer, 2 do c[consumer[i]] = consumer[i + 1] end
    if tonumber(c['pending']) == 0 and tonumber(c['idle']) > tonumber(ARGV[2]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], info['name'], c['name'])
    end
  end
  local keep
  if tonumber(info['pending']) > 0 then
    keep = redis.call('XPENDING', KEYS[1], info['name'], '-', '+', 1)[1][1]
  else
    local ms, seq = parse(info['last-delivered-id'])
    keep = string.format('%d-%d', ms, seq + 1)
  end
  if floor == nil or before(keep, floor) then floor = keep end
end
if floor == nil then floor = ARGV[1] end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
`;

class RedisBus implements Bus {
  private readonly url: string;
  private readonly keyPrefix: string;
  private readonly shared: RedisConnection;
  /** Blocking-read connections by consumer name. */
  private readonly readers = new Map<string, RedisConnection>();
  private closed = false;
  /** When `publish` last trimmed each stream (performance.now()). */
  private readonly trimmedAt = new Map<string, number>();
  /** Blocking reads (stream key, group, consumer) whose own pending entries were read since they could last have lost some. */
  private readonly pendingChecked = new Set<string>();

  constructor(
    url: string,
    keyPrefix: string,
    private readonly trimEveryMs: number,
    private readonly unreadRetentionMs: number,
    private readonly staleConsumerMs: number,
  ) {
    this.url = url;
    this.keyPrefix = keyPrefix;
    // socketTimeout: a connection that has sent commands and heard nothing for as long as one may take is
    // dropped and made again. Without it a connection whose bytes vanish (a silent partition, a NAT or
    // failover that forgot it) stays open for as long as the kernel keeps it, every command timing out.
    this.shared = new RedisConnection(url, redisOptions({ commandTimeout: COMMAND_TIMEOUT_MS, socketTimeout: COMMAND_TIMEOUT_MS }));
  }

  publish(stream: string, messages: BusMessage[]): Promise<number> {
    return this.append(PUBLISH_SCRIPT, stream, messages);
  }

  republish(stream: string, messages: BusMessage[]): Promise<number> {
    return this.append(REPUBLISH_SCRIPT, stream, messages);
  }

  private async append(script: string, stream: string, messages: BusMessage[]): Promise<number> {
    const redis = await this.connection();
    if (messages.length === 0) return 0;
    const keys = [this.key(stream), ...messages.map((message) => this.key(`published:${stream}:${message.id}`))];
    const appended = Number(await redis.eval(script, keys.length, ...keys, PUBLISHED_TTL_SECONDS, MESSAGE_FIELD, ...messages.map(encodeMessage)));
    // The messages are on the stream: a failed trim only leaves entries for the next one.
    if (trimDue(this.trimmedAt, stream, this.trimEveryMs)) await this.trim(stream).catch(() => undefined);
    return appended;
  }

  async ensureGroup(stream: string, group: string): Promise<void> {
    const redis = await this.connection();
    try {
      await redis.xgroup('CREATE', this.key(stream), group, '0', 'MKSTREAM');
    } catch (error) {
      if (!errorMessage(error).startsWith('BUSYGROUP')) throw error;
    }
  }

  async readNew(stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<BusEntry[]> {
    assertCount(count);
    const key = this.key(stream);
    // BLOCK 0 would mean "forever": a read that must not wait is sent without BLOCK, on the shared connection.
    if (blockMs <= 0) {
      const redis = await this.connection();
      return this.toReadEntries(stream, await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', key, '>'));
    }
    // Entries the server handed to this consumer whose reply never arrived (the read was given up
    // client-side, the connection dropped, or an earlier process of this name stopped): read them again
    // at once rather than after `claimIdle`'s idle time. A consumer reads only once it has settled its
    // previous read, so its pending entries are exactly those.
    const reading = `${key}\u0000${group}\u0000${consumer}`;
    if (!this.pendingChecked.has(reading)) {
      this.pendingChecked.add(reading);
      const lost = await this.readOwnPending(stream, group, consumer, count);
      if (lost.length > 0) return lost;
    }
    const reader = this.reader(consumer);
    const startedAt = performance.now();
    // A reader hears from the server at the latest when its block ends: silent longer, its connection is
    // dropped and made again (the shared connection's socketTimeout, fitted to this read). It also bounds
    // the readiness check of a connection remade meanwhile, which would otherwise wait for good for an
    // answer lost on the way (a TCP proxy in front of Redis accepts, and its upstream is gone).
    reader.redis.options.socketTimeout = Math.ceil(blockMs) + BLOCKING_GRACE_MS;
    try {
      const redis = await reader.ready();
      const reply = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', Math.ceil(blockMs), 'STREAMS', key, '>');
      // A null after the client-side grace is a read given up here, which the server may have answered.
      if (reply === null && performance.now() - startedAt >= blockMs + BLOCKING_GRACE_MS / 2) this.pendingChecked.delete(reading);
      return this.toReadEntries(stream, reply);
    } catch (error) {
      this.pendingChecked.delete(reading);
      // close() drops blocking connections; a read it interrupted simply found nothing.
      if (this.closed) return [];
      throw error;
    }
  }

  /** This consumer's pending entries, with their delivery counts; entries trimmed meanwhile are acknowledged and left out. */
  private async readOwnPending(stream: string, group: string, consumer: string, count: number): Promise<BusEntry[]> {
    const redis = await this.connection();
    const key = this.key(stream);
    const entries = readReplyEntries(await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', key, '0'));
    if (entries.length === 0) return [];
    const gone = entries.filter(([, fields]) => fields === null).map(([id]) => asString(id, 'entry id'));
    if (gone.length > 0) await redis.xack(key, group, ...gone);
    const present = entries.filter(([, fields]) => fields !== null);
    if (present.length === 0) return [];
    const first = asString(present[0]![0], 'entry id');
    const last = asString(present.at(-1)![0], 'entry id');
    const counts = new Map(
      asArray(await redis.xpending(key, group, first, last, present.length, consumer), 'XPENDING').map((row) => {
        const [id, , , deliveries] = asArray(row, 'XPENDING');
        return [asString(id, 'entry id'), Number(deliveries)] as const;
      }),
    );
    return present.map(([id, fields]) => this.toEntry(stream, id, fields, counts.get(asString(id, 'entry id')) ?? 1));
  }

  async claimIdle(stream: string, group: string, consumer: string, minIdleMs: number, count: number): Promise<BusEntry[]> {
    assertCount(count);
    const redis = await this.connection();
    const idle = Math.max(0, Math.floor(minIdleMs));
    const reply = await redis.eval(CLAIM_IDLE_SCRIPT, 1, this.key(stream), group, consumer, idle, count);
    return asArray(reply, 'claimIdle').map((claimed) => {
      const [id, fields, deliveries] = asArray(claimed, 'claimIdle');
      return this.toEntry(stream, id, fields, Number(deliveries));
    });
  }

  async keepClaimed(stream: string, group: string, consumer: string, entryIds: string[]): Promise<void> {
    const redis = await this.connection();
    if (entryIds.length === 0) return;
    await redis.eval(KEEP_CLAIMED_SCRIPT, 1, this.key(stream), group, consumer, ...entryIds);
  }

  async ack(stream: string, group: string, entryIds: string[]): Promise<void> {
    const redis = await this.connection();
    if (entryIds.length === 0) return;
    await redis.xack(this.key(stream), group, ...entryIds);
  }

  async lag(stream: string, group: string): Promise<{ undelivered: number; pending: number }> {
    const redis = await this.connection();
    const key = this.key(stream);
    const info = await this.groupInfo(redis, stream, group);
    const pending = Number(info.get('pending'));
    const lag = info.get('lag');
    // Redis reports no lag when entries were deleted past the group's position; count them then.
    if (lag === null || lag === undefined) {
      return { undelivered: await this.countAfter(redis, key, String(info.get('last-delivered-id'))), pending };
    }
    return { undelivered: Number(lag), pending };
  }

  async oldestUnacked(stream: string, group: string): Promise<number | null> {
    const redis = await this.connection();
    const key = this.key(stream);
    const info = await this.groupInfo(redis, stream, group);
    const [summary, next] = await Promise.all([
      redis.xpending(key, group),
      redis.xrange(key, `(${String(info.get('last-delivered-id'))}`, '+', 'COUNT', 1),
    ]);
    // The oldest pending entry (XPENDING's summary: count, smallest id, …) and the next undelivered one.
    const [firstUndelivered] = asArray(next, 'XRANGE') as unknown[][];
    const ids = [asArray(summary, 'XPENDING')[1], firstUndelivered?.[0]];
    // Entry ids start with the millisecond of their append.
    const appended = ids.filter((id): id is string => typeof id === 'string').map((id) => Number(id.split('-')[0]));
    return appended.length === 0 ? null : Math.min(...appended);
  }

  async trim(stream: string): Promise<number> {
    const redis = await this.connection();
    // Entry ids start with the millisecond of the append: below this id is everything appended
    // unreadRetentionMs ago or earlier.
    const retainedFrom = `${Math.max(0, Date.now() - this.unreadRetentionMs + 1)}-0`;
    return Number(await redis.eval(TRIM_SCRIPT, 1, this.key(stream), retainedFrom, this.staleConsumerMs));
  }

  async ping(): Promise<void> {
    const redis = await this.connection();
    await redis.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Not QUIT: the server would answer it only after the blocked read it queues behind.
    for (const reader of this.readers.values()) reader.redis.disconnect();
    this.readers.clear();
    await this.shared.close();
  }

  private key(stream: string): string {
    return `${this.keyPrefix}${stream}`;
  }

  private connection(): Promise<Redis> {
    if (this.closed) return Promise.reject(closedBusError());
    return this.shared.ready();
  }

  private reader(consumer: string): RedisConnection {
    if (this.closed) throw closedBusError();
    let reader = this.readers.get(consumer);
    if (!reader) {
      reader = new RedisConnection(this.url, redisOptions({ blockingTimeout: COMMAND_TIMEOUT_MS, blockingTimeoutGrace: BLOCKING_GRACE_MS }));
      this.readers.set(consumer, reader);
    }
    return reader;
  }

  /** The fields of `XINFO GROUPS` for `group` of `stream`; a NOGROUP error when there is no such group. */
  private async groupInfo(redis: Redis, stream: string, group: string): Promise<Map<string, unknown>> {
    const groups = await redis.xinfo('GROUPS', this.key(stream)).catch((error: unknown) => {
      throw errorMessage(error).includes('no such key') ? unknownGroupError(stream, group) : error;
    });
    const info = asArray(groups, 'XINFO GROUPS')
      .map((fields) => pairs(fields, 'XINFO GROUPS'))
      .find((fields) => fields.get('name') === group);
    if (!info) throw unknownGroupError(stream, group);
    return info;
  }

  private async countAfter(redis: Redis, key: string, lastDeliveredId: string): Promise<number> {
    let count = 0;
    let start = `(${lastDeliveredId}`;
    for (;;) {
      const page = asArray(await redis.xrange(key, start, '+', 'COUNT', LAG_COUNT_PAGE), 'XRANGE');
      count += page.length;
      const last = page.at(-1);
      if (page.length < LAG_COUNT_PAGE || last === undefined) return count;
      start = `(${asString(asArray(last, 'XRANGE')[0], 'XRANGE')}`;
    }
  }

  /** XREADGROUP on one stream: null (nothing new) or `[[key, [[id, fields], …]]]`. Entries read with `>` are first deliveries. */
  private toReadEntries(stream: string, reply: unknown): BusEntry[] {
    return readReplyEntries(reply).map(([id, fields]) => this.toEntry(stream, id, fields, 1));
  }

  private toEntry(stream: string, id: unknown, fields: unknown, deliveries: number): BusEntry {
    const entryId = asString(id, 'entry id');
    const raw = pairs(fields, 'entry fields').get(MESSAGE_FIELD);
    if (typeof raw !== 'string') throw new Error(`bus entry ${entryId} of stream ${stream} has no ${MESSAGE_FIELD} field`);
    return { entryId, stream, message: decodeMessage(raw, stream, entryId), deliveries };
  }
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`unexpected Redis reply to ${what}`);
  return value;
}

function asString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`unexpected Redis reply to ${what}`);
  return value;
}

/** A flat `[name, value, name, value, …]` reply as a map. */
function pairs(value: unknown, what: string): Map<string, unknown> {
  const flat = asArray(value, what);
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(asString(flat[i], what), flat[i + 1]);
  return map;
}

/** The `[id, fields]` entries of an XREADGROUP reply on one stream (none for null); `fields` is null for an entry deleted since. */
function readReplyEntries(reply: unknown): unknown[][] {
  if (reply === null) return [];
  const [streamReply] = asArray(reply, 'XREADGROUP');
  return asArray(asArray(streamReply, 'XREADGROUP')[1], 'XREADGROUP').map((entry) => asArray(entry, 'XREADGROUP'));
}
