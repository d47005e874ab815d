import { describe, expect, it } from 'bun:test';
import type { Message } from '../../src/actors/ports';
import { project } from '../../src/messaging/projections';
import { searchEventsProjection, toHit } from '../../src/features/search/searchEvents.projection';
import { searchTermsProjection } from '../../src/features/search/searchTerms.projection';
import { fieldWordsOf, fold, isBlankQuery, queryWordsOf, searchTextOf, wordsOf } from '../../src/features/search/searchText';
import { editDistance, expandQuery, matchQuality, maxEdits, rank, scoreOf, type Candidate } from '../../src/features/search/searchRanking';
import { ftsExpression } from '../../src/features/search/searchEvents.sqlite';
import { tsqueryOf } from '../../src/features/search/searchEvents.postgres';
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

const showCreated = (start: string) =>
  fact('ShowCreated_v1', `show/${SHOW}`, { show_id: SHOW, dead_nation_id: 'dn', number_of_tickets: 5, start_time: start, title: 'Motörhead Tribute', venue: 'Club Ørsted', created_at: days(0) });
const eventCreated = () =>
  fact('EventCreated_v1', `event/${EVENT}`, {
    event_id: EVENT, name: 'Renaissance', description: 'stadium', start_time: days(9),
    venue: { venue_id: 'v1', name: 'Wembley', location: 'London' },
    performers: [{ performer_id: 'p1', name: 'Beyoncé' }, { performer_id: 'p2', name: 'Jay-Z' }], seat_count: 3, created_at: days(0),
  });

describe('searchEvents projection', () => {
  describe('when a show is created', () => {
    it('indexes it as a general-admission event keyed by its show_id, its venue searchable, on ShowCreated_v1', () => {
      const start = days(3).replace('.000Z', 'Z');
      const rows = project(searchEventsProjection, [showCreated(start)]);
      expect(rows.get(SHOW)).toEqual({
        event_id: SHOW, kind: 'show', name: 'Motörhead Tribute', description: '', venue_name: 'Club Ørsted', venue_location: '',
        performers: [], performer_names: '', start_time: new Date(start).toISOString(),
        search_text: 'motorhead tribute\nclub orsted\n\n\n',
      });
    });
  });

  describe('when an event is created', () => {
    it('keeps its venue, performers, their names and the folded text of its fields on EventCreated_v1', () => {
      const rows = project(searchEventsProjection, [eventCreated(), fact('BookingMade_v1', 'booking/b', { booking_id: 'b' })]);
      expect([...rows.keys()]).toEqual([EVENT]);
      expect(rows.get(EVENT)).toMatchObject({
        kind: 'event', venue_name: 'Wembley', venue_location: 'London', performer_names: 'Beyoncé Jay-Z', start_time: days(9),
        search_text: 'renaissance\nwembley\nlondon\nstadium\nbeyonce jay z',
      });
      expect(toSearchHit({ ...rows.get(EVENT)!, score: 1.5 })).toEqual({
        event_id: EVENT, name: 'Renaissance', description: 'stadium', start_time: days(9), venue: { name: 'Wembley', location: 'London' },
        performers: [{ performer_id: 'p1', name: 'Beyoncé' }, { performer_id: 'p2', name: 'Jay-Z' }], score: 1.5,
      });
    });
  });
});

describe('searchTerms projection', () => {
  describe('when shows and events are created', () => {
    it('keeps every folded word of their searchable fields once, with its length in letters', () => {
      const rows = project(searchTermsProjection, [showCreated(days(3)), eventCreated(), fact('BookingMade_v1', 'booking/b', { booking_id: 'b' })]);
      expect([...rows.keys()].sort()).toEqual(['beyonce', 'club', 'jay', 'london', 'motorhead', 'orsted', 'renaissance', 'stadium', 'tribute', 'wembley', 'z']);
      expect(rows.get('motorhead')).toEqual({ term: 'motorhead', letters: 9 });
    });
  });
});

describe('search text', () => {
  it('folds case, accents and the letters that do not decompose, the same for index and query', () => {
    expect(fold('Beyoncé MOTÖRHEAD')).toBe('beyonce motorhead');
    const pairs: [string, string][] = [
      ['Røyksopp', 'royksopp'], ['ØRSTED', 'orsted'], ['Łódź', 'lodz'], ['Straße', 'strasse'], ['STRAẞE', 'strasse'], ['Søren', 'soren'],
      ['Æther', 'aether'], ['æther', 'aether'], ['Œuvre', 'oeuvre'], ['Þór', 'thor'], ['Đorđe', 'dorde'], ['Ðað', 'dad'], ['ıstanbul', 'istanbul'],
      ['İstanbul', 'istanbul'], ['ﬁnale', 'finale'], ['Ｆｕｌｌ', 'full'],
    ];
    for (const [text, folded] of pairs) expect([text, fold(text)]).toEqual([text, folded]);
  });

  it('counts format characters as nothing', () => {
    expect(fold('Bey\u200Boncé')).toBe('beyonce');
    expect(wordsOf('Bey\u200Boncé\u00ADs')).toEqual(['beyonces']);
  });

  it('splits words at anything but letters and digits', () => {
    expect(wordsOf('  Beyoncé, live!  in São-Paulo 2025 ')).toEqual(['beyonce', 'live', 'in', 'sao', 'paulo', '2025']);
    expect(wordsOf('!!!')).toEqual([]);
  });

  it('takes at most 10 words of a query', () => {
    expect(queryWordsOf('a b c d e f g h i j k l')).toHaveLength(10);
  });

  it('takes a word repeated in a query once, so that repeating it does not weigh it more', () => {
    expect(queryWordsOf('Jazz jazz JAZZ rock jázz')).toEqual(['jazz', 'rock']);
    expect(queryWordsOf('a a a a a a a a a a b c')).toEqual(['a', 'b', 'c']);
  });

  it('takes a q of only spaces and format characters as empty', () => {
    for (const q of ['', '  ', '\u200B', ' \u200B\u200D \uFEFF\u2060 ']) expect([q, isBlankQuery(q)]).toEqual([q, true]);
    for (const q of ['{}', '!', 'a\u200B']) expect([q, isBlankQuery(q)]).toEqual([q, false]);
  });

  it('stores the folded words of each field on a line of its own, and reads them back', () => {
    const text = searchTextOf({ name: 'Æther  Live!', venue_name: 'Straße', venue_location: '', description: 'A — B', performer_names: 'Søren' });
    expect(text).toBe('aether live\nstrasse\n\na b\nsoren');
    expect(fieldWordsOf(text)).toEqual([['aether', 'live'], ['strasse'], [], ['a', 'b'], ['soren']]);
  });
});

describe('search matching', () => {
  it('allows no edit below 4 letters, one below 8, two from 8', () => {
    expect([maxEdits('abc'), maxEdits('abcd'), maxEdits('abcdefg'), maxEdits('abcdefgh')]).toEqual([0, 1, 1, 2]);
    expect(maxEdits('łódź')).toBe(1);
  });

  it('counts a transposition of adjacent letters as one edit, stopping past the limit', () => {
    expect(editDistance('beyonse', 'beyonce', 1)).toBe(1);
    expect(editDistance('motorhed', 'motorhead', 2)).toBe(1);
    for (const [typo, word] of [['bjrok', 'bjork'], ['reunoin', 'reunion'], ['beyonec', 'beyonce'], ['swfit', 'swift'], ['mteallica', 'metallica'], ['raidohead', 'radiohead']]) {
      expect([typo, editDistance(typo!, word!, 1)]).toEqual([typo, 1]);
    }
    expect(editDistance('metalilca', 'metallica', 2)).toBe(1);
    expect(editDistance('abcd', 'badc', 2)).toBe(2);
    expect(editDistance('kitten', 'sitting', 3)).toBe(3);
    expect(editDistance('kitten', 'sitting', 1)).toBe(2);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
    expect(editDistance('same', 'same', 0)).toBe(0);
  });

  it('rates an exact word 1, a prefix (3+ letters) 0.9, one edit 0.8, two edits 0.6, anything else 0', () => {
    expect(matchQuality('adele', 'adele')).toBe(1);
    expect(matchQuality('adele', 'adeles')).toBe(0.9);
    expect(matchQuality('ade', 'adele')).toBe(0.9);
    expect(matchQuality('ad', 'adele')).toBe(0);
    expect(matchQuality('bjrok', 'bjork')).toBe(0.8);
    expect(matchQuality('metalxca', 'metallica')).toBe(0.6);
    expect(matchQuality('abc', 'abd')).toBe(0);
    expect(matchQuality('bjrok', 'bjorkk')).toBe(0);
    expect(matchQuality('metallica', 'metal')).toBe(0);
  });

  const fields = (name: string, venue = '', location = '', description = '', performers = '') =>
    fieldWordsOf(searchTextOf({ name, venue_name: venue, venue_location: location, description, performer_names: performers }));

  it('scores each query word by its best field weight × quality, and sums the words', () => {
    expect(scoreOf(['adele'], fields('Adele Live'))).toBe(4);
    expect(scoreOf(['adele'], fields('Adeles Tribute Band'))).toBe(3.6);
    expect(scoreOf(['coldplay'], fields('Coldplay World Tour'))).toBeGreaterThan(scoreOf(['coldplay'], fields('Coldplays Greatest Hits Tribute'))!);
    expect(scoreOf(['metalica', 'puppets'], fields('Metallica Master of Puppets'))).toBe(7.2);
    expect(scoreOf(['zephyr'], fields('Zephyr', '', '', 'zephyr'))).toBe(4);
    expect(scoreOf(['zephyr'], fields('Open Air', 'Zephyr'))).toBe(2);
    expect(scoreOf(['zephyr'], fields('Open Air', '', 'Zephyr'))).toBe(2);
    expect(scoreOf(['zephyr'], fields('Open Air', '', '', 'zephyr'))).toBe(1);
    expect(scoreOf(['zephyr'], fields('Open Air', '', '', '', 'Zephyr'))).toBe(1);
  });

  it('ranks a word in a long name over the same word as a whole venue location over a whole description', () => {
    const long = scoreOf(['quokka'], fields('The Great Quokka Jamboree of the Southern Hemisphere'))!;
    const location = scoreOf(['quokka'], fields('Open Air', 'Field', 'Quokka'))!;
    const description = scoreOf(['quokka'], fields('Late Jam', 'Hall', 'Nowhere', 'Quokka'))!;
    expect(long).toBeGreaterThan(location);
    expect(location).toBeGreaterThan(description);
  });

  it('matches only when every query word matches somewhere', () => {
    expect(scoreOf(['metallica', 'puppets'], fields('Metallica Live'))).toBeNull();
    expect(scoreOf(['metallica', 'london'], fields('Metallica Live', 'Arena', 'London'))).toBe(6);
  });

  it('lets short and filler words (in, at, the, of…) go unmatched beside others, and scores them where they match', () => {
    expect(scoreOf(['jazz', 'in', 'london'], fields('Jazz Night', 'Club', 'London'))).toBe(6);
    expect(scoreOf(['jazz', 'at', 'the', 'olympia'], fields('Jazz Gala', 'Olympia'))).toBe(6);
    expect(scoreOf(['jazz', 'in', 'london'], fields('Jazz in the Park', 'Club', 'London'))).toBe(10);
    expect(scoreOf(['jazz', 'in', 'london'], fields('Jazz in the Park', 'Club', 'Paris'))).toBeNull();
    expect(scoreOf(['u2', 'dublin'], fields('Joshua Tree', 'Croke Park', 'Dublin'))).toBe(2);
    expect(scoreOf(['u2', 'dublin'], fields('U2', 'Croke Park', 'Dublin'))).toBe(6);
  });

  it('requires the filler words of a query made of nothing else', () => {
    expect(scoreOf(['the', 'who'], fields('The Who'))).toBe(8);
    expect(scoreOf(['the', 'who'], fields('The Band'))).toBeNull();
    expect(scoreOf(['u2'], fields('Joshua Tree'))).toBeNull();
  });

  it('expands each query word into its prefix (3+ letters) and the indexed words within its edits', () => {
    const vocabulary = ['beyonce', 'beyond', 'beyonse', 'london', 'uk', 'ul'];
    expect(expandQuery(['beyonse', 'uk'], vocabulary)).toEqual([
      { word: 'beyonse', prefix: true, near: ['beyonce'], optional: false },
      { word: 'uk', prefix: false, near: [], optional: true },
    ]);
    expect(expandQuery(['uk'], vocabulary)).toEqual([{ word: 'uk', prefix: false, near: [], optional: false }]);
  });

  it('builds an FTS5 query (SQLite) and a tsquery (Postgres) of the same terms', () => {
    const terms = [{ word: 'beyonse', prefix: true, near: ['beyonce'], optional: false }, { word: 'uk', prefix: false, near: [], optional: false }];
    expect(ftsExpression(terms)).toBe('("beyonse"* OR "beyonce") AND ("uk")');
    expect(tsqueryOf(terms)).toBe("('beyonse':* | 'beyonce') & ('uk')");
    const withFiller = [terms[0]!, { word: 'in', prefix: false, near: [], optional: true }];
    expect(ftsExpression(withFiller)).toBe('("beyonse"* OR "beyonce")');
    expect(tsqueryOf(withFiller)).toBe("('beyonse':* | 'beyonce')");
  });

  describe('when ranking candidates', () => {
    const candidate = (event_id: string, start_time: string, name: string): Candidate => ({ event_id, start_time, search_text: searchTextOf({ name, venue_name: '', venue_location: '', description: '', performer_names: '' }) });
    const candidates = [
      candidate('e3', days(3), 'Paging Fest'),
      candidate('e1', days(1), 'Paging Fest'),
      candidate('e2', days(1), 'Paging Fest'),
      candidate('e0', days(9), 'Pagings Tribute'),
      candidate('x', days(0), 'Unrelated'),
      candidate('e4', days(2), 'Paging Paging'),
    ];

    it('orders by score, then start time, then id, and counts every match', () => {
      expect(rank(expandQuery(['paging'], []), candidates, { page: 1, size: 10 })).toEqual({
        total: 5,
        hits: [
          { event_id: 'e1', score: 4 },
          { event_id: 'e2', score: 4 },
          { event_id: 'e4', score: 4 },
          { event_id: 'e3', score: 4 },
          { event_id: 'e0', score: 3.6 },
        ],
      });
    });

    it('pages over that order, a page past the end empty', () => {
      expect(rank(expandQuery(['paging'], []), candidates, { page: 2, size: 2 }).hits.map((h) => h.event_id)).toEqual(['e4', 'e3']);
      expect(rank(expandQuery(['paging'], []), candidates, { page: 4, size: 2 })).toEqual({ total: 5, hits: [] });
    });
  });

  it('reads a hit back with its json parsed and its score rounded', () => {
    const hit = toHit({ event_id: 'x', kind: 'event', name: 'n', description: null, venue_name: 'v', venue_location: 'l', performers: '[]', performer_names: '', start_time: days(1), search_text: 'n\nv\nl\n\n', score: 1 / 3 });
    expect(hit).toMatchObject({ description: '', performers: [], score: 0.333333 });
  });
});
