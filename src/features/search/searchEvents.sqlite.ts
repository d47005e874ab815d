import type { Store } from '../../actors/ports';
import { SEARCH_TABLE } from './searchEvents.projection';
import type { Candidate, QueryTerm } from './searchRanking';

/**
 * SQLite recall: the FTS5 table `search_events_v2_fts` indexes the `search_text` of the searchEvents rows
 * as external content, kept in step by triggers on the projection table. That text is folded already
 * (searchText.ts), so the `ascii` tokenizer only splits it at spaces and line ends: its terms are exactly
 * the words search matches against. The query asks for every word as itself, as a prefix (3+ letters) or
 * as one of its near indexed words; searchRanking.ts decides and scores.
 */

const FTS = `${SEARCH_TABLE}_fts`;
/** The one trigger whose absence means the table was (re)created without them: by a rebuild's swap. */
const MARKER_TRIGGER = `${FTS}_insert`;

const INDEX_TABLE = `CREATE VIRTUAL TABLE IF NOT EXISTS ${FTS} USING fts5(search_text, content = '${SEARCH_TABLE}', content_rowid = 'rowid', tokenize = 'ascii')`;

const TRIGGERS = [
  `CREATE TRIGGER IF NOT EXISTS ${FTS}_insert AFTER INSERT ON ${SEARCH_TABLE} BEGIN
     INSERT INTO ${FTS} (rowid, search_text) VALUES (new.rowid, new.search_text);
   END`,
  `CREATE TRIGGER IF NOT EXISTS ${FTS}_delete AFTER DELETE ON ${SEARCH_TABLE} BEGIN
     INSERT INTO ${FTS} (${FTS}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
   END`,
  `CREATE TRIGGER IF NOT EXISTS ${FTS}_update AFTER UPDATE ON ${SEARCH_TABLE} BEGIN
     INSERT INTO ${FTS} (${FTS}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
     INSERT INTO ${FTS} (rowid, search_text) VALUES (new.rowid, new.search_text);
   END`,
];

/**
 * The index belongs to the projection table, which the runner creates after the migrations and a rebuild
 * swaps for a new one without triggers. So before searching, when the marker trigger is missing, the
 * FTS table (if new) and the triggers are created and the index rebuilt from the table, in one write
 * transaction.
 */
async function ensureIndex(store: Store): Promise<void> {
  const marker = "SELECT 1 AS present FROM sqlite_master WHERE type = 'trigger' AND name = $1";
  if ((await store.query(marker, [MARKER_TRIGGER])).length > 0) return;
  await store.transaction(async (tx) => {
    if ((await tx.query(marker, [MARKER_TRIGGER])).length > 0) return;
    if ((await tx.query("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = $1", [SEARCH_TABLE])).length === 0) return;
    await tx.execute(INDEX_TABLE);
    for (const sql of TRIGGERS) await tx.execute(sql);
    await tx.execute(`INSERT INTO ${FTS} (${FTS}) VALUES ('rebuild')`);
  });
}

const phrase = (word: string): string => `"${word.replaceAll('"', '""')}"`;

/** The FTS5 query: every word, as itself or a prefix (3+ letters), or one of its near indexed words. */
export function ftsExpression(terms: readonly QueryTerm[]): string {
  return terms
    .filter((term) => !term.optional)
    .map(({ word, prefix, near }) => `(${[`${phrase(word)}${prefix ? '*' : ''}`, ...near.map(phrase)].join(' OR ')})`)
    .join(' AND ');
}

/** The upcoming events (start after `now`) the FTS index recalls for `terms` (their optional words left out). */
export async function recallSqlite(store: Store, terms: readonly QueryTerm[], now: string): Promise<Candidate[]> {
  await ensureIndex(store);
  return store.query<Candidate>(
    `SELECT e.event_id, e.start_time, e.search_text FROM ${FTS} JOIN ${SEARCH_TABLE} e ON e.rowid = ${FTS}.rowid WHERE ${FTS} MATCH $1 AND e.start_time > $2`,
    [ftsExpression(terms), now],
  );
}
