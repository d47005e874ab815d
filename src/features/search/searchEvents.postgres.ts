import type { Store } from '../../actors/ports';
import { SEARCH_TABLE } from './searchEvents.projection';
import type { Candidate, QueryTerm } from './searchRanking';

/**
 * Postgres recall: a GIN expression index over the words of `search_text` as a `tsvector` whose lexemes
 * are those words exactly as stored (folded already, searchText.ts): `array_to_tsvector` of the text
 * split at white space, with no parser or dictionary in between. The query is a `tsquery` of the same
 * lexemes: every word as itself, as a prefix (3+ letters) or as one of its near indexed words;
 * searchRanking.ts decides and scores.
 */

/** The indexed expression; every function in it is IMMUTABLE, and the query repeats it word for word. */
const WORDS = "array_to_tsvector(array_remove(regexp_split_to_array(search_text, '\\s+'), ''))";
const INDEX = `${SEARCH_TABLE}_words`;

/**
 * Expression indexes die with their table, and a rebuild swaps in a table without them, so the index is
 * (re)created before searching when missing. Its absence slows a search but never changes its result.
 */
async function ensureIndex(store: Store): Promise<void> {
  const present = await store.query<{ n: number }>(
    'SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname = $2',
    [SEARCH_TABLE, INDEX],
  );
  if (Number(present[0]?.n ?? 0) === 1) return;
  try {
    await store.execute(`CREATE INDEX IF NOT EXISTS ${INDEX} ON ${SEARCH_TABLE} USING gin ((${WORDS}))`);
  } catch {
    // Another instance creating the same index at once makes IF NOT EXISTS fail; its index serves as well.
  }
}

const lexeme = (word: string): string => `'${word.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** The tsquery: every word but the optional ones, as itself or a prefix (3+ letters), or one of its near indexed words. */
export function tsqueryOf(terms: readonly QueryTerm[]): string {
  return terms
    .filter((term) => !term.optional)
    .map(({ word, prefix, near }) => `(${[`${lexeme(word)}${prefix ? ':*' : ''}`, ...near.map(lexeme)].join(' | ')})`)
    .join(' & ');
}

/** The upcoming events (start after `now`) the GIN index recalls for `terms`. */
export async function recallPostgres(store: Store, terms: readonly QueryTerm[], now: string): Promise<Candidate[]> {
  await ensureIndex(store);
  return store.query<Candidate>(
    `SELECT e.event_id, e.start_time, e.search_text FROM ${SEARCH_TABLE} e WHERE ${WORDS.replace('search_text', 'e.search_text')} @@ $1::tsquery AND e.start_time > $2`,
    [tsqueryOf(terms), now],
  );
}
