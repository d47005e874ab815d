import { inStoredFormat } from '../../kernel/clock';
import { defineProjection } from '../../messaging/projections';

/** A performer of an event as search shows it. */
export interface SearchPerformer {
  performer_id: string;
  name: string;
}

/**
 * One searchable event: an event of the catalogue (`kind` "event") or a show of the compatibility API
 * (`kind` "show", a general-admission event whose `event_id` is its `show_id`). The columns are neutral;
 * the full-text index over them is dialect-specific (searchEvents.sqlite.ts, searchEvents.postgres.ts).
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
};

const SHOW_CREATED = 'ShowCreated_v1';
const EVENT_CREATED = 'EventCreated_v1';

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

const utc = (value: unknown): string => inStoredFormat(str(value));

function performersOf(value: unknown): SearchPerformer[] {
  if (!Array.isArray(value)) return [];
  return value.map((p: Record<string, unknown>) => ({ performer_id: str(p?.performer_id), name: str(p?.name) }));
}

/** The search index's rows (`GET /api/search/events`), fed by the creation facts of shows and events. */
export const searchEventsProjection = defineProjection<SearchEventRow>({
  name: 'searchEvents',
  table: 'search_events',
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
  },
  indexes: { upcoming: ['start_time', 'event_id'] },
  handles: [SHOW_CREATED, EVENT_CREATED],
  keyOf: (fact) => str(fact.name === SHOW_CREATED ? fact.data.show_id : fact.data.event_id),
  evolve(_row, fact, key) {
    if (fact.name === SHOW_CREATED) {
      return { event_id: key, kind: 'show', name: str(fact.data.title), description: '', venue_name: str(fact.data.venue), venue_location: '', performers: [], performer_names: '', start_time: utc(fact.data.start_time) };
    }
    const venue = (fact.data.venue ?? {}) as Record<string, unknown>;
    const performers = performersOf(fact.data.performers);
    return {
      event_id: key,
      kind: 'event',
      name: str(fact.data.name),
      description: str(fact.data.description),
      venue_name: str(venue.name),
      venue_location: str(venue.location),
      performers,
      performer_names: performers.map((p) => p.name).join(' '),
      start_time: utc(fact.data.start_time),
    };
  },
});

/** What to search: the text (may be empty), events starting after `now`, page `page` (1-based) of `size`. */
export interface SearchRequest {
  q: string;
  now: string;
  page: number;
  size: number;
}

/** One page of hits, best first, and how many events match in all. */
export interface SearchResult {
  hits: (SearchEventRow & { score: number })[];
  total: number;
}

/** Weights of the fields in the score (API.md): name ×4, venue location ×2, description and performers ×1. */
export const WEIGHTS = { name: 4, venue_location: 2, description: 1, performer_names: 1 } as const;

/** The columns of a hit, from `search_events e`. */
export const SEARCH_COLUMNS = 'e.event_id, e.kind, e.name, e.description, e.venue_name, e.venue_location, e.performers, e.performer_names, e.start_time';

export function toHit(record: Record<string, unknown>): SearchEventRow & { score: number } {
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

/** Lowercase without accents ("Beyoncé" → "beyonce"), as both indexes fold text. */
export const fold = (text: string): string => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** The words of a query, folded, at most 10 (a longer query adds cost, not precision). */
export const wordsOf = (q: string): string[] => fold(q).split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0).slice(0, 10);
