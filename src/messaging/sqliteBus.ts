import { Database } from 'bun:sqlite';
import { assertStillThere, ownerOnly } from '../kernel/files';
import { assertCount, closedBusError, decodeMessage, encodeMessage, trimDue, unknownGroupError } from './bus';
import { PUBLISHED_MEMORY_MS, TRIM_EVERY_MS, type Bus, type BusEntry, type BusMessage } from './ports';

export interface SqliteBusOptions {
  /** A file path, or `':memory:'` for a private in-memory bus. */
  path: string;
  /**
   * How long `trim` keeps acknowledged entries, whose ids skip re-sends, and the entries of a stream no
   * group reads (default PUBLISHED_MEMORY_MS; tests use 0).
   */
  publishedMemoryMs?: number;
  /** How often `publish` trims a stream (default TRIM_EVERY_MS; tests use 0: on every publish). */
  trimEveryMs?: number;
}

/**
 * Opens the embedded bus: durable streams with consumer groups in SQLite (WAL, `synchronous=FULL`),
 * with the semantics of the Redis Streams bus (see ports.ts). The file may be shared with other
 * tables; the bus only touches `bus_*` tables, which it creates if missing.
 *
 * Entry ids are the global sequence number zero-padded to 16 digits, so they sort as strings.
 * Publishing is keyed by message id: UNIQUE (stream, message_id) skips an id the stream already holds,
 * so `trim` removes an acknowledged entry only once it was published `publishedMemoryMs` ago.
 * A blocking `readNew` wakes at once on a publish through this instance and polls every
 * POLL_INTERVAL_MS for publishes through other connections to the same file.
 */
export function openSqliteBus(opts: SqliteBusOptions): Bus {
  return new SqliteBus(opts.path, opts.publishedMemoryMs ?? PUBLISHED_MEMORY_MS, opts.trimEveryMs ?? TRIM_EVERY_MS);
}

/**
 * Only publishes through another connection (another process on the file) need the poll; every waiting
 * read polls, so a short interval made an idle embedded service spend a tenth of a core (measured).
 */
const POLL_INTERVAL_MS = 100;
const ENTRY_ID_DIGITS = 16;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bus_entries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  message_id TEXT NOT NULL,
  message TEXT NOT NULL,
  published_at TEXT NOT NULL,
  UNIQUE (stream, message_id)
);
CREATE INDEX IF NOT EXISTS bus_entries_by_stream ON bus_entries (stream, seq);
CREATE TABLE IF NOT EXISTS bus_groups (
  stream TEXT NOT NULL,
  group_name TEXT NOT NULL,
  last_delivered_seq INTEGER NOT NULL,
  PRIMARY KEY (stream, group_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_pending (
  stream TEXT NOT NULL,
  group_name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  consumer TEXT NOT NULL,
  deliveries INTEGER NOT NULL,
  last_delivered_at INTEGER NOT NULL, -- epoch ms, compared with "now - minIdle" like Redis' idle time
  PRIMARY KEY (stream, group_name, seq)
) WITHOUT ROWID;
`;

interface EntryRow {
  seq: number;
  message: string;
  deliveries: number;
}

function toEntryId(seq: number): string {
  return seq.toString().padStart(ENTRY_ID_DIGITS, '0');
}

function toSeq(entryId: string): number {
  if (!/^\d+$/.test(entryId)) throw new Error(`invalid bus entry id: ${entryId}`);
  return Number(entryId);
}

class SqliteBus implements Bus {
  private readonly db: Database;
  private closed = false;
  /** Resolvers of waiting reads, called on every publish through this instance and on close. */
  private readonly wakers = new Set<() => void>();

  /** When `publish` last trimmed each stream (performance.now()). */
  private readonly trimmedAt = new Map<string, number>();

  constructor(
    private readonly path: string,
    private readonly publishedMemoryMs: number,
    private readonly trimEveryMs: number,
  ) {
    this.db = new Database(path, { create: true, readwrite: true, strict: true });
    if (path !== ':memory:') ownerOnly(path);
    this.db.run('PRAGMA busy_timeout = 5000');
    if (path !== ':memory:') this.db.run('PRAGMA journal_mode = WAL');
    this.db.run('PRAGMA synchronous = FULL');
    this.db.run(SCHEMA);
  }

  async publish(stream: string, messages: BusMessage[]): Promise<number> {
    this.assertOpen();
    if (messages.length === 0) return 0;
    const appended = this.append(stream, messages, new Date().toISOString());
    this.wakeReaders();
    if (trimDue(this.trimmedAt, stream, this.trimEveryMs)) await this.trim(stream);
    return appended;
  }

  /** The same as `publish`: the stream keeps every entry as long as it remembers the id, so none is lost. */
  republish(stream: string, messages: BusMessage[]): Promise<number> {
    return this.publish(stream, messages);
  }

  async ensureGroup(stream: string, group: string): Promise<void> {
    this.assertOpen();
    this.db
      .query('INSERT INTO bus_groups (stream, group_name, last_delivered_seq) VALUES (?, ?, 0) ON CONFLICT DO NOTHING')
      .run(stream, group);
  }

  async readNew(stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<BusEntry[]> {
    this.assertOpen();
    assertCount(count);
    const deadline = Date.now() + Math.max(0, blockMs);
    for (;;) {
      const entries = this.hasUndelivered(stream, group)
        ? this.toEntries(stream, this.deliverNew(stream, group, consumer, count, Date.now()))
        : [];
      const remaining = deadline - Date.now();
      if (entries.length > 0 || remaining <= 0) return entries;
      await this.waitForPublish(Math.min(POLL_INTERVAL_MS, remaining));
      if (this.closed) return [];
    }
  }

  async claimIdle(stream: string, group: string, consumer: string, minIdleMs: number, count: number): Promise<BusEntry[]> {
    this.assertOpen();
    assertCount(count);
    return this.toEntries(stream, this.claim(stream, group, consumer, minIdleMs, count, Date.now()));
  }

  async keepClaimed(stream: string, group: string, consumer: string, entryIds: string[]): Promise<void> {
    this.assertOpen();
    const keep = this.db.query('UPDATE bus_pending SET last_delivered_at = ? WHERE stream = ? AND group_name = ? AND seq = ? AND consumer = ?');
    const now = Date.now();
    this.immediate(() => {
      for (const id of entryIds) keep.run(now, stream, group, toSeq(id), consumer);
    });
  }

  async ack(stream: string, group: string, entryIds: string[]): Promise<void> {
    this.assertOpen();
    this.remove(stream, group, entryIds.map(toSeq));
  }

  async lag(stream: string, group: string): Promise<{ undelivered: number; pending: number }> {
    this.assertOpen();
    const lag = this.db
      .query<{ undelivered: number; pending: number }, [string, string]>(
        `SELECT
           (SELECT COUNT(*) FROM bus_entries e WHERE e.stream = g.stream AND e.seq > g.last_delivered_seq) AS undelivered,
           (SELECT COUNT(*) FROM bus_pending p WHERE p.stream = g.stream AND p.group_name = g.group_name) AS pending
         FROM bus_groups g WHERE g.stream = ? AND g.group_name = ?`,
      )
      .get(stream, group);
    if (!lag) throw unknownGroupError(stream, group);
    return { undelivered: lag.undelivered, pending: lag.pending };
  }

  async oldestUnacked(stream: string, group: string): Promise<number | null> {
    this.assertOpen();
    if (!this.db.query('SELECT 1 FROM bus_groups WHERE stream = ? AND group_name = ?').get(stream, group)) throw unknownGroupError(stream, group);
    const row = this.db
      .query<{ oldest: string | null }, [string, string]>(
        // Two lookups on (stream, seq): the oldest pending entry, and the first one not yet delivered.
        `SELECT MIN(published_at) AS oldest FROM bus_entries WHERE stream = ?1 AND seq IN (
           (SELECT MIN(seq) FROM bus_pending WHERE stream = ?1 AND group_name = ?2),
           (SELECT MIN(seq) FROM bus_entries WHERE stream = ?1
              AND seq > (SELECT last_delivered_seq FROM bus_groups WHERE stream = ?1 AND group_name = ?2)))`,
      )
      .get(stream, group);
    return row?.oldest ? Date.parse(row.oldest) : null;
  }

  async trim(stream: string): Promise<number> {
    this.assertOpen();
    const publishedBefore = new Date(Date.now() - this.publishedMemoryMs).toISOString();
    return this.immediate(() => {
      // Per group: its oldest pending entry, or when none is pending the one after its last delivered.
      // No group: no floor, only the age.
      const floor = this.db
        .query<{ floor: number | null }, [string]>(
          `SELECT MIN(COALESCE(
             (SELECT MIN(p.seq) FROM bus_pending p WHERE p.stream = g.stream AND p.group_name = g.group_name),
             g.last_delivered_seq + 1)) AS floor
           FROM bus_groups g WHERE g.stream = ?`,
        )
        .get(stream)?.floor;
      return this.db
        .query('DELETE FROM bus_entries WHERE stream = ? AND seq < ? AND published_at <= ?')
        .run(stream, floor ?? Number.MAX_SAFE_INTEGER, publishedBefore).changes;
    });
  }

  /** Fails while the file is gone: the open file keeps working, but what it holds is lost at the next start. */
  async ping(): Promise<void> {
    this.assertOpen();
    if (this.path !== ':memory:') assertStillThere(this.path, 'the bus file');
    this.db.query('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeReaders();
    this.db.close();
  }

  /** Inserts the messages the stream does not hold yet; returns how many. */
  private append(stream: string, messages: BusMessage[], publishedAt: string): number {
    const insert = this.db.query(
      `INSERT INTO bus_entries (stream, message_id, message, published_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (stream, message_id) DO NOTHING`,
    );
    return this.immediate(() => {
      let appended = 0;
      for (const message of messages) appended += insert.run(stream, message.id, encodeMessage(message), publishedAt).changes;
      return appended;
    });
  }

  private deliverNew(stream: string, group: string, consumer: string, count: number, now: number): EntryRow[] {
    return this.immediate(() => {
      const rows = this.db
        .query<EntryRow, [string, number, number]>(
          'SELECT seq, message, 1 AS deliveries FROM bus_entries WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?',
        )
        .all(stream, this.lastDeliveredSeq(stream, group), count);
      const last = rows.at(-1);
      if (!last) return [];
      this.db
        .query('UPDATE bus_groups SET last_delivered_seq = ? WHERE stream = ? AND group_name = ?')
        .run(last.seq, stream, group);
      const insert = this.db.query(
        `INSERT INTO bus_pending (stream, group_name, seq, consumer, deliveries, last_delivered_at)
         VALUES (?, ?, ?, ?, 1, ?)`,
      );
      for (const row of rows) insert.run(stream, group, row.seq, consumer, now);
      return rows;
    });
  }

  private claim(stream: string, group: string, consumer: string, minIdleMs: number, count: number, now: number): EntryRow[] {
    return this.immediate(() => {
      this.lastDeliveredSeq(stream, group);
      const rows = this.db
        .query<EntryRow, [string, string, number, number]>(
          `SELECT p.seq, e.message, p.deliveries + 1 AS deliveries
           FROM bus_pending p JOIN bus_entries e ON e.seq = p.seq
           WHERE p.stream = ? AND p.group_name = ? AND p.last_delivered_at <= ?
           ORDER BY p.seq LIMIT ?`,
        )
        .all(stream, group, now - minIdleMs, count);
      const update = this.db.query(
        `UPDATE bus_pending SET consumer = ?, deliveries = deliveries + 1, last_delivered_at = ?
         WHERE stream = ? AND group_name = ? AND seq = ?`,
      );
      for (const row of rows) update.run(consumer, now, stream, group, row.seq);
      return rows;
    });
  }

  private remove(stream: string, group: string, seqs: number[]): void {
    const remove = this.db.query('DELETE FROM bus_pending WHERE stream = ? AND group_name = ? AND seq = ?');
    this.immediate(() => {
      for (const seq of seqs) remove.run(stream, group, seq);
    });
  }

  /**
   * Runs `work` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so a read that
   * goes on to write cannot fail to upgrade. bun:sqlite commits when `work` returns, so it must stay
   * synchronous (no await inside).
   */
  private immediate<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  private lastDeliveredSeq(stream: string, group: string): number {
    const row = this.db
      .query<{ last_delivered_seq: number }, [string, string]>(
        'SELECT last_delivered_seq FROM bus_groups WHERE stream = ? AND group_name = ?',
      )
      .get(stream, group);
    if (!row) throw unknownGroupError(stream, group);
    return row.last_delivered_seq;
  }

  /** A read-only check, so that an idle blocking read polls without taking the write lock. */
  private hasUndelivered(stream: string, group: string): boolean {
    const lastSeq = this.lastDeliveredSeq(stream, group);
    return this.db.query('SELECT 1 FROM bus_entries WHERE stream = ? AND seq > ? LIMIT 1').get(stream, lastSeq) !== null;
  }

  private toEntries(stream: string, rows: EntryRow[]): BusEntry[] {
    return rows.map((row) => {
      const entryId = toEntryId(row.seq);
      return { entryId, stream, message: decodeMessage(row.message, stream, entryId), deliveries: row.deliveries };
    });
  }

  private waitForPublish(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private wakeReaders(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private assertOpen(): void {
    if (this.closed) throw closedBusError();
  }
}
