import type { SqlExecutor } from '../../actors/ports';
import { seatsLeftSql } from '../showCapacity';
import type { Show } from './shows.model';
import { keysetAfter } from '../../kernel/statementShapes';

interface ShowRow {
  show_id: string;
  dead_nation_id: string;
  number_of_tickets: number;
  available_tickets: number;
  start_time: string;
  title: string;
  venue: string;
}

/** `$1` is now: seats of general-admission holds live at that time are not available (lapsed ones are). */
const COLUMNS = `show_id, dead_nation_id, number_of_tickets, start_time, title, venue, ${seatsLeftSql('$1')} AS available_tickets`;

const toShow = (row: ShowRow): Show => ({
  show_id: row.show_id,
  dead_nation_id: row.dead_nation_id,
  number_of_tickets: Number(row.number_of_tickets),
  available_tickets: Number(row.available_tickets),
  start_time: row.start_time,
  title: row.title,
  venue: row.venue,
});

/** The Dead Nation event id of a show, or null when there is no such show. */
export async function deadNationIdOf(db: SqlExecutor, showId: string): Promise<string | null> {
  const [row] = await db.query<{ dead_nation_id: string }>('SELECT dead_nation_id FROM shows WHERE show_id = $1', [showId]);
  return row?.dead_nation_id ?? null;
}

/** Shows as at `now` ordered by start time (then id), after the key `[start_time, show_id]` when given. */
export async function listShows(db: SqlExecutor, page: { limit?: number; after?: readonly string[] }, now: string): Promise<Show[]> {
  const params: unknown[] = [now];
  let where = '';
  if (page.after) {
    params.push(page.after[0], page.after[1]);
    where = `WHERE ${keysetAfter(['start_time', 'show_id'], ['$2', '$3'], 'asc')}`;
  }
  const limit = page.limit === undefined ? '' : `LIMIT ${page.limit + 1}`;
  const rows = await db.query<ShowRow>(`SELECT ${COLUMNS} FROM shows ${where} ORDER BY start_time, show_id ${limit}`, params);
  return rows.map(toShow);
}
