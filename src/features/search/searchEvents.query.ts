import type { Store } from '../../actors/ports';
import { paddedToPowerOfTwo, placeholders } from '../../kernel/statementShapes';
import { SEARCH_COLUMNS, SEARCH_TABLE, toHit, type SearchRequest, type SearchResult } from './searchEvents.projection';
import { recallPostgres } from './searchEvents.postgres';
import { recallSqlite } from './searchEvents.sqlite';
import { expandQuery, nearLengths, rank } from './searchRanking';
import { termsOfLength } from './searchTerms.projection';
import { isBlankQuery, queryWordsOf } from './searchText';

/**
 * Searches upcoming events of the searchEvents read model in two stages, with one meaning in both
 * databases. First the query's words are expanded with their near words from the vocabulary
 * (searchTerms), and the dialect's full-text index recalls the upcoming events that hold every word as
 * itself, a prefix or a near word; then searchRanking.ts scores those, orders them (best score first,
 * ties by start_time, then event_id) and cuts the page, whose rows are read last. An empty query (or one
 * of only format characters) lists upcoming events by date; a query of only punctuation finds nothing.
 */
export async function searchEvents(db: Store, request: SearchRequest): Promise<SearchResult> {
  if (isBlankQuery(request.q)) return listUpcoming(db, request);
  const words = queryWordsOf(request.q);
  if (words.length === 0) return { hits: [], total: 0 };
  const lengths = nearLengths(words);
  const terms = expandQuery(words, lengths ? await termsOfLength(db, lengths) : []);
  const candidates = db.dialect === 'postgres' ? await recallPostgres(db, terms, request.now) : await recallSqlite(db, terms, request.now);
  const { hits, total } = rank(terms, candidates, request);
  if (hits.length === 0) return { hits: [], total };
  const ids = paddedToPowerOfTwo(hits.map((hit) => hit.event_id));
  const rows = new Map(
    (await db.query(`SELECT ${SEARCH_COLUMNS} FROM ${SEARCH_TABLE} e WHERE e.event_id IN (${placeholders(ids.length)})`, ids)).map((row) => [String(row.event_id), row]),
  );
  return {
    hits: hits.flatMap(({ event_id, score }) => {
      const row = rows.get(event_id);
      return row ? [toHit({ ...row, score })] : [];
    }),
    total,
  };
}

async function listUpcoming(db: Store, { now, page, size }: SearchRequest): Promise<SearchResult> {
  const rows = await db.query(
    `SELECT ${SEARCH_COLUMNS}, 0 AS score FROM ${SEARCH_TABLE} e WHERE e.start_time > $1 ORDER BY e.start_time, e.event_id LIMIT $2 OFFSET $3`,
    [now, size, (page - 1) * size],
  );
  const [count] = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${SEARCH_TABLE} WHERE start_time > $1`, [now]);
  return { hits: rows.map(toHit), total: Number(count?.n ?? 0) };
}
