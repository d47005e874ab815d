import type { SqlExecutor } from '../../actors/ports';
import { defineProjection } from '../../messaging/projections';
import { searchableOf, SEARCHED_FACTS } from './searchEvents.projection';
import { fieldWordsOf, lengthOf, searchTextOf } from './searchText';

/** One word of the index: a folded word of some event's searchable fields, and its length in letters. */
export type SearchTermRow = {
  term: string;
  letters: number;
};

/**
 * The vocabulary of the search index, the same in both databases: every folded word of the searchable
 * fields of every show and event, once. A search reads the words whose length lets them be within a
 * query word's edits and keeps the near ones (searchRanking.ts `expandQuery`) for the index to recall.
 * Words are only ever added: a word left by nothing costs a look-up, not a wrong hit.
 */
export const searchTermsProjection = defineProjection<SearchTermRow>({
  name: 'searchTerms',
  table: 'search_terms',
  key: 'term',
  columns: { term: 'text', letters: 'integer' },
  indexes: { by_letters: ['letters', 'term'] },
  handles: SEARCHED_FACTS,
  keyOf: (fact) => [...new Set(fieldWordsOf(searchTextOf(searchableOf(fact))).flat())],
  evolve: (row, _fact, key) => row ?? { term: key, letters: lengthOf(key) },
});

/** The indexed words of `min` to `max` letters. */
export async function termsOfLength(db: SqlExecutor, { min, max }: { min: number; max: number }): Promise<string[]> {
  const rows = await db.query<{ term: string }>('SELECT term FROM search_terms WHERE letters BETWEEN $1 AND $2', [min, max]);
  return rows.map((row) => row.term);
}
