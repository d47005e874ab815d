import type { Store } from '../../actors/ports';
import { SEARCH_COLUMNS, toHit, WEIGHTS, type SearchRequest, type SearchResult } from './searchEvents.projection';

/**
 * Postgres search over the searchEvents rows. Migration 0007 adds pg_trgm, unaccent and two IMMUTABLE
 * functions: `search_vector(...)`, a `tsvector` of the unaccented fields weighted A (name), B (venue
 * location), C (performers), D (description), and `search_text(...)`, the unaccented lowercase fields as
 * one text. A row matches when its vector matches every query word as a prefix, or, for typos, when the
 * query is trigram-similar to a word sequence of its text (`<%`, word_similarity ≥ 0.6). The score adds
 * ts_rank (weights D, C, B, A = 1, 1, 2, 4 quarters) to the word similarity of each field times its weight.
 */

const VECTOR = 'search_vector(e.name, e.venue_location, e.description, e.performer_names)';
const TEXT = 'search_text(e.name, e.venue_location, e.description, e.performer_names)';

/**
 * Expression indexes die with their table, and a rebuild swaps in a table without them, so they are
 * (re)created before searching when missing. Their absence slows a search but never changes its result.
 */
async function ensureIndexes(store: Store): Promise<void> {
  const present = await store.query<{ n: number }>(
    "SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'search_events' AND indexname IN ('search_events_vector', 'search_events_trigrams')",
  );
  if (Number(present[0]?.n ?? 0) === 2) return;
  try {
    await store.execute(`CREATE INDEX IF NOT EXISTS search_events_vector ON search_events USING gin ((${VECTOR.replaceAll('e.', '')}))`);
    await store.execute(`CREATE INDEX IF NOT EXISTS search_events_trigrams ON search_events USING gin ((${TEXT.replaceAll('e.', '')}) gin_trgm_ops)`);
  } catch {
    // Another instance creating the same index at once makes IF NOT EXISTS fail; its index serves as well.
  }
}

const RANK_WEIGHTS = `'{${[WEIGHTS.description, WEIGHTS.performer_names, WEIGHTS.venue_location, WEIGHTS.name].map((w) => w / 4).join(', ')}}'`;

/** Search in Postgres; see the module comment. */
export async function searchPostgres(store: Store, words: readonly string[], { now, page, size }: SearchRequest): Promise<SearchResult> {
  const offset = (page - 1) * size;
  await ensureIndexes(store);
  const prefixes = words.map((w) => `${w}:*`).join(' & ');
  const text = words.join(' ');
  const similarity = (column: string, weight: number) => `${weight} * word_similarity($2, search_fold(e.${column}))`;
  const score = [
    `ts_rank(${RANK_WEIGHTS}, ${VECTOR}, to_tsquery('simple', $1))`,
    similarity('name', WEIGHTS.name),
    similarity('venue_location', WEIGHTS.venue_location),
    similarity('description', WEIGHTS.description),
    similarity('performer_names', WEIGHTS.performer_names),
  ].join(' + ');
  const where = `WHERE e.start_time > $3 AND (${VECTOR} @@ to_tsquery('simple', $1) OR $2 <% ${TEXT})`;
  const rows = await store.query(`SELECT ${SEARCH_COLUMNS}, (${score})::float8 AS score FROM search_events e ${where} ORDER BY score DESC, e.start_time, e.event_id LIMIT $4 OFFSET $5`, [prefixes, text, now, size, offset]);
  const [count] = await store.query<{ n: number }>(`SELECT COUNT(*) AS n FROM search_events e ${where}`, [prefixes, text, now]);
  return { hits: rows.map(toHit), total: Number(count?.n ?? 0) };
}
