/**
 * Pieces of SQL text shared by the store, messaging and the features: placeholder lists, keyset
 * conditions, and list lengths kept to powers of two.
 *
 * The powers of two keep the number of distinct statement texts small where a text depends on how
 * many values a list holds. The Postgres driver prepares every distinct text once per connection and
 * the server keeps it for the connection's life: a text per list length would cost a prepare round
 * trip for each new length and leave one prepared statement per length on every connection. Lengths
 * are therefore powers of two (1, 2, 4, …): at most a dozen texts per statement.
 */

/** `$first, $first+1, …`: `count` placeholders for a list of bound values. */
export function placeholders(count: number, first = 1): string {
  return Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ');
}

/** `values` (at least one) lengthened to a power of two by repeating the last one: for `IN (…)` lists, where a repeat changes nothing. */
export function paddedToPowerOfTwo<T>(values: readonly T[]): T[] {
  const last = values.at(-1);
  if (last === undefined) throw new Error('an IN list needs at least one value');
  const padded = [...values];
  while ((padded.length & (padded.length - 1)) !== 0) padded.push(last);
  return padded;
}

/** The largest power of two not above `n` (n ≥ 1). */
export function powerOfTwoAtMost(n: number): number {
  if (n < 1) throw new Error(`no power of two is at most ${n}`);
  return 2 ** Math.floor(Math.log2(n));
}

/**
 * `items` cut into consecutive chunks whose sizes are powers of two, none longer than `max`: the
 * largest that fits first (37 items, max 16: 16, 16, 4, 1). For statements where a repeated value
 * would matter (the rows of an upsert).
 */
export function powerOfTwoChunks<T>(items: readonly T[], max: number): T[][] {
  const limit = powerOfTwoAtMost(max);
  const chunks: T[][] = [];
  let start = 0;
  while (start < items.length) {
    const size = Math.min(limit, powerOfTwoAtMost(items.length - start));
    chunks.push(items.slice(start, start + size));
    start += size;
  }
  return chunks;
}

/**
 * The keyset condition of a list ordered by two columns, the second breaking ties: the rows after the
 * key `after` (SQL expressions, usually placeholders). `(a, b) > ($x, $y)` ascending, with `<`
 * descending: as a row comparison, PostgreSQL and SQLite start an index on (a, b) at the key, where
 * the same condition written `a > $x OR (a = $x AND b > $y)` makes PostgreSQL read the index from its
 * start and filter, unless its statistics tell it better (the event log: 41 ms against 0.1 ms at
 * 200 000 messages without them).
 */
export function keysetAfter(columns: readonly [string, string], after: readonly [string, string], order: 'asc' | 'desc'): string {
  const [first, second] = columns;
  const [firstKey, secondKey] = after;
  return `(${first}, ${second}) ${order === 'asc' ? '>' : '<'} (${firstKey}, ${secondKey})`;
}
