import { inStoredFormat } from '../../kernel/clock';
import { defineProjection } from '../../messaging/projections';
import { searchTextOf } from './searchText';

/** A performer of an event as search shows it. */
export interface SearchPerformer {
  performer_id: string;
  name: string;
}

/**
 * One searchable event: an event of the catalogue (`kind` "event") or a show of the compatibility API
 * (`kind` "show", a general-admission event whose `event_id` is its `show_id`). The columns are neutral;
 * the full-text index over `search_text` is dialect-specific (searchEvents.sqlite.ts, searchEvents.postgres.ts).
 */
export type SearchEventRow = {
  event_id: string;
  kind: string;
  name: string;
  description: string;
  venue_name: string;
  venue_location: string;
  performers: SearchPerformer[];
  /** The performers' names joined by spaces: the text the index reads. */
  performer_names: string;
  /** UTC, `toISOString()` form, so that text order is time order. */
  start_time: string;
  /** The folded words of the searchable fields, a line per field (searchText.ts): what the indexes read. */
  search_text: string;
};

const SHOW_CREATED = 'ShowCreated_v1';
const EVENT_CREATED = 'EventCreated_v1';

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

const utc = (value: unknown): string => inStoredFormat(str(value));

function performersOf(value: unknown): SearchPerformer[] {
  if (!Array.isArray(value)) return [];
  return value.map((p: Record<string, unknown>) => ({ performer_id: str(p?.performer_id), name: str(p?.name) }));
}

function showRow(data: Record<string, unknown>, key: string): Omit<SearchEventRow, 'search_text'> {
  return { event_id: key, kind: 'show', name: str(data.title), description: '', venue_name: str(data.venue), venue_location: '', performers: [], performer_names: '', start_time: utc(data.start_time) };
}

function eventRow(data: Record<string, unknown>, key: string): Omit<SearchEventRow, 'search_text'> {
  const venue = (data.venue ?? {}) as Record<string, unknown>;
  const performers = performersOf(data.performers);
  return {
    event_id: key,
    kind: 'event',
    name: str(data.name),
    description: str(data.description),
    venue_name: str(venue.name),
    venue_location: str(venue.location),
    performers,
    performer_names: performers.map((p) => p.name).join(' '),
    start_time: utc(data.start_time),
  };
}

/** The searchable fields of a show's or an event's creation fact, as the row keeps them. */
export const searchableOf = (fact: { name: string; data: Record<string, unknown> }): Omit<SearchEventRow, 'search_text'> =>
  fact.name === SHOW_CREATED ? showRow(fact.data, '') : eventRow(fact.data, '');

/** The creation facts search reads. */
export const SEARCHED_FACTS = [SHOW_CREATED, EVENT_CREATED] as const;

/**
 * The search index's rows (`GET /api/search/events`), fed by the creation facts of shows and events.
 *
 * The table name carries the row's version. The projection runner only creates a missing table (then
 * fills it from the whole log) and cannot add a column to one that exists, so a change of columns or of
 * `search_text`'s folding takes a new name: every deployment then refills the new table from the log on
 * its first start, rows from before the upgrade included. v2 added `search_text`; `search_events` (v1)
 * and its 0007 index objects are no longer read or written.
 */
export const searchEventsProjection = defineProjection<SearchEventRow>({
  name: 'searchEvents',
  table: 'search_events_v2',
  key: 'event_id',
  columns: {
    event_id: 'text',
    kind: 'text',
    name: 'text',
    description: 'text',
    venue_name: 'text',
    venue_location: 'text',
    performers: 'json',
    performer_names: 'text',
    start_time: 'text',
    search_text: 'text',
  },
  indexes: { upcoming: ['start_time', 'event_id'] },
  handles: SEARCHED_FACTS,
  keyOf: (fact) => str(fact.name === SHOW_CREATED ? fact.data.show_id : fact.data.event_id),
  evolve(_row, fact, key) {
    const row = fact.name === SHOW_CREATED ? showRow(fact.data, key) : eventRow(fact.data, key);
    return { ...row, search_text: searchTextOf(row) };
  },
});

/** What to search: the text (may be empty), events starting after `now`, page `page` (1-based) of `size`. */
export interface SearchRequest {
  q: string;
  now: string;
  page: number;
  size: number;
}

/** A hit as search answers it: the row without its index text, with its score. */
export type SearchHitRow = Omit<SearchEventRow, 'search_text'> & { score: number };

/** One page of hits, best first, and how many events match in all. */
export interface SearchResult {
  hits: SearchHitRow[];
  total: number;
}

/** The searchEvents table. */
export const SEARCH_TABLE = searchEventsProjection.table;

/** The columns of a hit, from `${SEARCH_TABLE} e` (not `search_text`: ranking has read it already). */
export const SEARCH_COLUMNS = 'e.event_id, e.kind, e.name, e.description, e.venue_name, e.venue_location, e.performers, e.performer_names, e.start_time';

export function toHit(record: Record<string, unknown>): SearchHitRow {
  return {
    event_id: String(record.event_id),
    kind: String(record.kind),
    name: str(record.name),
    description: str(record.description),
    venue_name: str(record.venue_name),
    venue_location: str(record.venue_location),
    performers: record.performers ? (JSON.parse(String(record.performers)) as SearchPerformer[]) : [],
    performer_names: str(record.performer_names),
    start_time: str(record.start_time),
    score: Math.round(Number(record.score ?? 0) * 1e6) / 1e6,
  };
}
