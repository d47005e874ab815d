import type { Store } from '../../actors/ports';
import { SEARCH_COLUMNS, toHit, WEIGHTS, type SearchRequest, type SearchResult } from './searchEvents.projection';

/**
 * SQLite search: the FTS5 table `search_events_fts` (migration 0007, `unicode61 remove_diacritics 2`, so
 * "beyonce" matches "Beyoncé") indexes the searchEvents rows as external content, kept in step by
 * triggers on the projection table. Ranking is bm25 with the API's column weights. Typos: each query
 * word also matches the indexed terms (fts5vocab) within a small edit distance, and any term it prefixes.
 */

const FTS = 'search_events_fts';
const TERMS = 'search_events_terms';
/** The one trigger whose absence means the table was (re)created without them: by a rebuild's swap. */
const MARKER_TRIGGER = 'search_events_fts_insert';
const COLUMNS = ['name', 'venue_location', 'description', 'performer_names'] as const;

const TRIGGERS = [
  `CREATE TRIGGER IF NOT EXISTS search_events_fts_insert AFTER INSERT ON search_events BEGIN
     INSERT INTO ${FTS} (rowid, ${COLUMNS.join(', ')}) VALUES (new.rowid, ${COLUMNS.map((c) => `new.${c}`).join(', ')});
   END`,
  `CREATE TRIGGER IF NOT EXISTS search_events_fts_delete AFTER DELETE ON search_events BEGIN
     INSERT INTO ${FTS} (${FTS}, rowid, ${COLUMNS.join(', ')}) VALUES ('delete', old.rowid, ${COLUMNS.map((c) => `old.${c}`).join(', ')});
   END`,
  `CREATE TRIGGER IF NOT EXISTS search_events_fts_update AFTER UPDATE ON search_events BEGIN
     INSERT INTO ${FTS} (${FTS}, rowid, ${COLUMNS.join(', ')}) VALUES ('delete', old.rowid, ${COLUMNS.map((c) => `old.${c}`).join(', ')});
     INSERT INTO ${FTS} (rowid, ${COLUMNS.join(', ')}) VALUES (new.rowid, ${COLUMNS.map((c) => `new.${c}`).join(', ')});
   END`,
];

/**
 * Triggers live and die with their table: the projection runner creates `search_events` after the
 * migrations, and a rebuild swaps in a new table without them. So before searching, a missing trigger
 * is created and the FTS index rebuilt from the table, in one write transaction.
 */
async function ensureIndex(store: Store): Promise<void> {
  const marker = "SELECT 1 AS present FROM sqlite_master WHERE type = 'trigger' AND name = $1";
  if ((await store.query(marker, [MARKER_TRIGGER])).length > 0) return;
  await store.transaction(async (tx) => {
    if ((await tx.query(marker, [MARKER_TRIGGER])).length > 0) return;
    if ((await tx.query("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'search_events'")).length === 0) return;
    for (const sql of TRIGGERS) await tx.execute(sql);
    await tx.execute(`INSERT INTO ${FTS} (${FTS}) VALUES ('rebuild')`);
  });
}

/** How many edits a word may carry and still match a term: none for short words, where one edit is another word. */
export const maxEdits = (word: string): number => (word.length >= 8 ? 2 : word.length >= 4 ? 1 : 0);

/** Levenshtein distance of `a` and `b`, or `limit + 1` as soon as it is known to exceed `limit`. */
export function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      current.push(value);
      best = Math.min(best, value);
    }
    if (best > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/** The FTS5 query: every word must match, as itself, as a prefix (3+ letters) or as a near term of the index. */
export function matchExpression(words: readonly string[], terms: readonly string[]): string {
  return words
    .map((word) => {
      const near = terms.filter((term) => term !== word && editDistance(word, term, maxEdits(word)) <= maxEdits(word));
      const alternatives = [`"${word}"${word.length >= 3 ? '*' : ''}`, ...near.map((term) => `"${term}"`)];
      return `(${alternatives.join(' OR ')})`;
    })
    .join(' AND ');
}


/** Search in SQLite; see the module comment. */
export async function searchSqlite(store: Store, words: readonly string[], { now, page, size }: SearchRequest): Promise<SearchResult> {
  await ensureIndex(store);
  const offset = (page - 1) * size;
  const lengths = words.filter((w) => maxEdits(w) > 0);
  const terms = lengths.length === 0
    ? []
    : (await store.query<{ term: string }>(`SELECT term FROM ${TERMS} WHERE length(term) BETWEEN $1 AND $2`, [
        Math.min(...lengths.map((w) => w.length - maxEdits(w))),
        Math.max(...lengths.map((w) => w.length + maxEdits(w))),
      ])).map((row) => row.term);
  const match = matchExpression(words, terms);
  const weights = COLUMNS.map((c) => WEIGHTS[c].toFixed(1)).join(', ');
  const from = `FROM ${FTS} JOIN search_events e ON e.rowid = ${FTS}.rowid WHERE ${FTS} MATCH $1 AND e.start_time > $2`;
  const rows = await store.query(`SELECT ${SEARCH_COLUMNS}, -bm25(${FTS}, ${weights}) AS score ${from} ORDER BY score DESC, e.start_time, e.event_id LIMIT $3 OFFSET $4`, [match, now, size, offset]);
  const [count] = await store.query<{ n: number }>(`SELECT COUNT(*) AS n ${from}`, [match, now]);
  return { hits: rows.map(toHit), total: Number(count?.n ?? 0) };
}
