import { describe, expect, it } from 'bun:test';
import type { Message } from '../../src/actors/ports';
import { project } from '../../src/messaging/projections';
import { fold, searchEventsProjection, toHit, wordsOf } from '../../src/features/search/searchEvents.projection';
import { editDistance, matchExpression, maxEdits } from '../../src/features/search/searchEvents.sqlite';
import { toSearchHit } from '../../src/features/search/search.model';

const NOW = Date.now();
const days = (n: number) => new Date(NOW + n * 86_400_000).toISOString();

let position = 0;
function fact(name: string, actor: string, data: Record<string, unknown>): Message {
  position += 1;
  return { id: `m-${position}`, name, kind: 'event', actor, actorSeq: 1, position, data, metadata: { correlation_id: 'c' }, occurredAt: days(0) };
}

const SHOW = '50000000-0000-4000-8000-000000000001';
const EVENT = 'e0000000-0000-4000-8000-000000000001';

describe('searchEvents projection', () => {
  describe('when a show is created', () => {
    it('indexes it as a general-admission event keyed by its show_id on ShowCreated_v1', () => {
      const start = days(3).replace('.000Z', 'Z');
      const rows = project(searchEventsProjection, [
        fact('ShowCreated_v1', `show/${SHOW}`, { show_id: SHOW, dead_nation_id: 'dn', number_of_tickets: 5, start_time: start, title: 'Motörhead Tribute', venue: 'Club', created_at: days(0) }),
      ]);
      expect(rows.get(SHOW)).toEqual({
        event_id: SHOW, kind: 'show', name: 'Motörhead Tribute', description: '', venue_name: 'Club', venue_location: '',
        performers: [], performer_names: '', start_time: new Date(start).toISOString(),
      });
    });
  });

  describe('when an event is created', () => {
    it('keeps its venue, performers and their names on EventCreated_v1', () => {
      const rows = project(searchEventsProjection, [
        fact('EventCreated_v1', `event/${EVENT}`, {
          event_id: EVENT, name: 'Renaissance', description: 'stadium', start_time: days(9),
          venue: { venue_id: 'v1', name: 'Wembley', location: 'London' },
          performers: [{ performer_id: 'p1', name: 'Beyoncé' }, { performer_id: 'p2', name: 'Jay-Z' }], seat_count: 3, created_at: days(0),
        }),
        fact('BookingMade_v1', 'booking/b', { booking_id: 'b' }),
      ]);
      expect([...rows.keys()]).toEqual([EVENT]);
      expect(rows.get(EVENT)).toMatchObject({ kind: 'event', venue_name: 'Wembley', venue_location: 'London', performer_names: 'Beyoncé Jay-Z', start_time: days(9) });
      expect(toSearchHit({ ...rows.get(EVENT)!, score: 1.5 })).toEqual({
        event_id: EVENT, name: 'Renaissance', description: 'stadium', start_time: days(9), venue: { name: 'Wembley', location: 'London' },
        performers: [{ performer_id: 'p1', name: 'Beyoncé' }, { performer_id: 'p2', name: 'Jay-Z' }], score: 1.5,
      });
    });
  });
});

describe('search text', () => {
  it('folds case and accents and splits words', () => {
    expect(fold('Beyoncé MOTÖRHEAD')).toBe('beyonce motorhead');
    expect(wordsOf('  Beyoncé, live!  in São-Paulo ')).toEqual(['beyonce', 'live', 'in', 'sao', 'paulo']);
    expect(wordsOf('!!!')).toEqual([]);
    expect(wordsOf('a b c d e f g h i j k l')).toHaveLength(10);
  });

  it('allows no edit below 4 letters, one below 8, two from 8', () => {
    expect([maxEdits('abc'), maxEdits('abcd'), maxEdits('abcdefg'), maxEdits('abcdefgh')]).toEqual([0, 1, 1, 2]);
  });

  it('measures edit distance, stopping past the limit', () => {
    expect(editDistance('beyonse', 'beyonce', 1)).toBe(1);
    expect(editDistance('motorhed', 'motorhead', 2)).toBe(1);
    expect(editDistance('kitten', 'sitting', 3)).toBe(3);
    expect(editDistance('kitten', 'sitting', 1)).toBe(2);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
  });

  it('builds an FTS5 query of each word, its prefix and its near terms', () => {
    expect(matchExpression(['beyonse', 'uk'], ['beyonce', 'beyond', 'beyonse', 'london'])).toBe('("beyonse"* OR "beyonce") AND ("uk")');
  });

  it('reads a hit back with its json parsed and its score rounded', () => {
    const hit = toHit({ event_id: 'x', kind: 'event', name: 'n', description: null, venue_name: 'v', venue_location: 'l', performers: '[]', performer_names: '', start_time: days(1), score: 1 / 3 });
    expect(hit).toMatchObject({ description: '', performers: [], score: 0.333333 });
  });
});
