import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { Feature } from '../../src/features/feature';
import { eventFixtureMachine, type EventFixtureEvent } from '../support/machines/eventFixture.machine';
import { opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const DAY = 86_400_000;
/** The service's clock; every fixture date is relative to it. */
const NOW = new Date(Date.now() - (Date.now() % 1000));
const days = (n: number) => new Date(NOW.getTime() + n * DAY).toISOString();

const fixtureFeature: Feature = { name: 'searchFixture', kinds: [{ kind: 'searchFixture', machine: eventFixtureMachine }] };

type EventInput = Partial<Omit<EventFixtureEvent, 'type' | 'now' | 'event_id'>> & { name: string; start_time: string };

async function createEvent(t: TestService, input: EventInput): Promise<string> {
  const eventId = crypto.randomUUID();
  const event: EventFixtureEvent = {
    type: 'event.create',
    now: NOW.toISOString(),
    event_id: eventId,
    description: '',
    venue: { venue_id: crypto.randomUUID(), name: 'Hall', location: 'Nowhere' },
    performers: [],
    seat_count: 10,
    ...input,
  };
  await t.service.runtime.send(`searchFixture/${eventId}`, event, { create: true, metadata: { correlation_id: 'search-test' } });
  return eventId;
}

/** The table-bound objects a search re-creates after a rebuild: GIN indexes (Postgres), triggers (SQLite). */
const indexObjects = (t: TestService) =>
  t.service.store.dialect === 'postgres'
    ? t.service.store.query("SELECT indexname FROM pg_indexes WHERE tablename = 'search_events_v2' AND indexname = 'search_events_v2_words'")
    : t.service.store.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'search_events_v2'");

const search = (t: TestService, query: string) => call(t.url, 'GET', `/api/search/events?${query}`);
const ids = (body: { events: { event_id: string }[] }) => body.events.map((e) => e.event_id);

for (const mode of MODES) {
  describe(`event search (${mode})`, () => {
    let t: TestService;
    const e = {} as Record<'inName' | 'inLocation' | 'inDescription' | 'beyonce' | 'past' | 'soon' | 'show', string>;
    const paging: string[] = [];

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW.toISOString(), features: [fixtureFeature] });
      // Ranking: "zephyr" in the name, the venue location, the description, a performer.
      e.inName = await createEvent(t, { name: 'Zephyr Night', start_time: days(30) });
      e.inLocation = await createEvent(t, { name: 'Open Air', start_time: days(10), venue: { venue_id: crypto.randomUUID(), name: 'Field', location: 'Zephyr Park' } });
      e.inDescription = await createEvent(t, { name: 'Late Jam', description: 'a zephyr of sound', start_time: days(5) });
      e.beyonce = await createEvent(t, {
        name: 'Renaissance Tour',
        description: 'stadium show',
        start_time: days(20),
        venue: { venue_id: crypto.randomUUID(), name: 'Wembley', location: 'London' },
        performers: [{ performer_id: crypto.randomUUID(), name: 'Beyoncé' }],
      });
      e.past = await createEvent(t, { name: 'Zephyr Yesterday', start_time: days(-1) });
      e.soon = await createEvent(t, { name: 'Quartz Evening', start_time: days(0.5) });
      // Paging: seven events with equal scores, two of them at the same time (tie by id).
      for (let i = 0; i < 7; i++) paging[i] = await createEvent(t, { name: 'Paging Fest', start_time: days(i === 6 ? 40 : 40 + i) });
      const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: days(3), title: 'Motörhead Tribute', venue: 'Club' });
      expect(show.status).toBe(201);
      e.show = show.json.show_id;
    });
    afterAll(() => t?.close());

    it('ranks a match in the name over the venue location over the description, and leaves past events out', async () => {
      const found = await eventually(async () => {
        const r = await search(t, 'q=zephyr');
        expect(r.status).toBe(200);
        expect(r.json.total).toBe(3);
        return r.json;
      });
      expect(ids(found)).toEqual([e.inName, e.inLocation, e.inDescription]);
      const scores = found.events.map((x: { score: number }) => x.score);
      expect(scores[0]).toBeGreaterThan(scores[1]);
      expect(scores[1]).toBeGreaterThan(scores[2]);
      expect(found.events[1].venue).toEqual({ name: 'Field', location: 'Zephyr Park' });
    });

    it('finds performers without their accent and with a typo', async () => {
      for (const q of ['beyonce', 'Beyoncé', 'beyonse', 'BEYONCE']) {
        const r = await eventually(async () => {
          const r = await search(t, `q=${encodeURIComponent(q)}`);
          expect(ids(r.json)).toEqual([e.beyonce]);
          return r.json;
        });
        expect(r.events[0].performers[0].name).toBe('Beyoncé');
        expect(r.total).toBe(1);
      }
    });

    it('finds "beyonce in london" and "renaissance at the wembley": filler words need not match when others do', async () => {
      for (const q of ['beyonce in london', 'renaissance at the wembley', 'the renaissance tour']) {
        const r = await eventually(async () => {
          const r = await search(t, `q=${encodeURIComponent(q)}`);
          expect(ids(r.json)).toEqual([e.beyonce]);
          return r.json;
        });
        expect(r.total).toBe(1);
      }
      expect((await search(t, `q=${encodeURIComponent('zephyr in paris')}`)).json.total).toBe(0);
    });

    it('finds accented names from plain text and typos in names ("motorhed")', async () => {
      await eventually(async () => expect(ids((await search(t, 'q=motorhead')).json)).toEqual([e.show]));
      expect(ids((await search(t, 'q=motorhed')).json)).toEqual([e.show]);
      expect(ids((await search(t, 'q=renaisance')).json)).toEqual([e.beyonce]);
    });

    it('lists a show as a general-admission event, with its show_id as event_id', async () => {
      const r = await eventually(async () => {
        const r = await search(t, 'q=tribute');
        expect(r.json.total).toBe(1);
        return r.json;
      });
      expect(r.events[0]).toMatchObject({ event_id: e.show, name: 'Motörhead Tribute', description: '', venue: { name: 'Club', location: '' }, performers: [] });
    });

    it('pages stably with exact totals, ties by start time then id, and an empty page past the end', async () => {
      const tied = [paging[0]!, paging[6]!].sort();
      const expected = [...tied, ...paging.slice(1, 6)];
      const seen: string[] = [];
      for (let page = 1; page <= 3; page++) {
        const r = await eventually(async () => {
          const r = await search(t, `q=paging&size=3&page=${page}`);
          expect(r.json.total).toBe(7);
          return r.json;
        });
        expect(r.page).toBe(page);
        expect(r.size).toBe(3);
        seen.push(...ids(r));
      }
      expect(seen).toEqual(expected);
      const past = await search(t, 'q=paging&size=3&page=4');
      expect(past.status).toBe(200);
      expect(past.json).toEqual({ events: [], total: 7, page: 4, size: 3 });
    });

    it('lists upcoming events by date for an empty q, checked at request time', async () => {
      const all = await eventually(async () => {
        const r = await search(t, 'q=&size=100');
        expect(r.json.total).toBe(13);
        return r.json;
      });
      const times = all.events.map((x: { start_time: string }) => x.start_time);
      expect(times).toEqual([...times].sort());
      expect(ids(all)).not.toContain(e.past);
      expect(ids(all)[0]).toBe(e.soon);
      t.clock!.set(days(1));
      try {
        const later = await search(t, 'size=100');
        expect(later.json.total).toBe(12);
        expect(ids(later.json)).not.toContain(e.soon);
        expect((await search(t, 'q=quartz')).json.total).toBe(0);
      } finally {
        t.clock!.set(NOW.toISOString());
      }
    });

    it('refuses a size outside 1..100 and a page below 1 with 400', async () => {
      for (const query of ['size=0', 'size=101', 'size=abc', 'page=0', 'page=-1', 'size=1.5', 'size=1e1', 'page=0x2', 'page=%2B2']) {
        const r = await search(t, query);
        expect(r.status).toBe(400);
        expect(r.json.code).toBe('VALIDATION_FAILED');
      }
      expect((await search(t, 'size=1')).status).toBe(200);
      expect((await search(t, 'size=100')).status).toBe(200);
      // Past the bound, the error says the bound, not the format.
      expect((await search(t, 'page=10000000')).json.errors.page[0]).toContain('1000000');
    });

    it('takes q as the text sent, also when it looks like JSON', async () => {
      for (const q of ['[1]', '{}', '{"a":1}']) {
        const r = await search(t, `q=${encodeURIComponent(q)}`);
        expect([q, r.status, r.json.total]).toEqual([q, 200, 0]);
      }
      expect(ids((await search(t, `q=${encodeURIComponent('["beyonce"]')}`)).json)).toEqual([e.beyonce]);
      expect((await search(t, 'q=a&q=b')).status).toBe(400);
    });

    it('keeps the index correct through a rebuild of the read model, and fresh within 1 s of a change', async () => {
      await t.service.projections.rebuild('searchEvents');
      const r = await search(t, 'q=beyonse');
      expect(ids(r.json)).toEqual([e.beyonce]);
      expect(await indexObjects(t)).toHaveLength(mode === 'distributed' ? 1 : 3);
      const added = await createEvent(t, { name: 'After Rebuild Gala', start_time: days(7) });
      await eventually(async () => expect(ids((await search(t, 'q=gala')).json)).toEqual([added]), 1000);
      expect((await search(t, 'q=zephyr')).json.total).toBe(3);
    });
  });
}

type Ranked = { name: string; score: number }[];
/** What each mode answered to the same queries, compared once both have run. */
const answers: Partial<Record<(typeof MODES)[number], Record<string, Ranked>>> = {};

for (const mode of MODES) {
  describe(`event search semantics (${mode})`, () => {
    let t: TestService;
    const e: Record<string, string> = {};
    const venue = (name: string, location: string) => ({ venue_id: crypto.randomUUID(), name, location });
    const found = async (q: string) => {
      const r = await search(t, `q=${encodeURIComponent(q)}&size=100`);
      expect([q, r.status]).toEqual([q, 200]);
      return r.json as { events: { event_id: string; name: string; score: number }[]; total: number };
    };

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW.toISOString(), features: [fixtureFeature] });
      const events: [string, EventInput][] = [
        ['adele', { name: 'Adele Live', start_time: days(10) }],
        ['adeles', { name: 'Adeles Tribute Band', start_time: days(5) }],
        ['coldplay', { name: 'Coldplay World Tour', start_time: days(12) }],
        ['coldplays', { name: 'Coldplays Greatest Hits Tribute', start_time: days(6) }],
        ['royksopp', { name: 'Røyksopp Tour', start_time: days(14) }],
        ['lodz', { name: 'Live in Łódź', start_time: days(15) }],
        ['strasse', { name: 'Straße der Musik', start_time: days(16) }],
        ['soren', { name: 'Søren Juul Unplugged', start_time: days(17) }],
        ['aether', { name: 'Æther Sessions', start_time: days(18) }],
        ['metallica', { name: 'Metallica Master of Puppets', start_time: days(19) }],
        ['radiohead', { name: 'Radiohead In Rainbows', start_time: days(20) }],
        ['taylor', { name: 'Taylor Swift Eras', start_time: days(21), venue: venue('Wembley Stadium', 'London') }],
        ['bjork', { name: 'Björk Cornucopia', start_time: days(22) }],
        ['reunion', { name: 'Pixies Reunion', start_time: days(23) }],
        ['beyonce', { name: 'Beyoncé Renaissance', start_time: days(24) }],
        ['quokkaName', { name: 'The Great Quokka Jamboree of the Southern Hemisphere', start_time: days(30) }],
        ['quokkaLocation', { name: 'Open Air', start_time: days(28), venue: venue('Field', 'Quokka') }],
        ['quokkaDescription', { name: 'Late Jam', description: 'quokka', start_time: days(26) }],
        ['paradiso', { name: 'Club Night', start_time: days(27), venue: venue('Paradiso', 'Amsterdam') }],
      ];
      for (const [key, input] of events) e[key] = await createEvent(t, input);
      const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: days(4), title: 'Late Set', venue: 'Vortex Jazz Club' });
      expect(show.status).toBe(201);
      e.vortex = show.json.show_id;
    });
    afterAll(() => t?.close());

    it('ranks an exact word above words it prefixes (Adele, Coldplay), with plain scores', async () => {
      const adele = await found('Adele');
      expect(ids(adele)).toEqual([e.adele!, e.adeles!]);
      expect(adele.events.map((x) => x.score)).toEqual([4, 3.6]);
      expect(ids(await found('Coldplay'))).toEqual([e.coldplay!, e.coldplays!]);
    });

    it('finds names with letters that do not decompose, by their exact and their unaccented forms', async () => {
      const cases: [string, string][] = [
        ['Røyksopp', 'royksopp'], ['Royksopp', 'royksopp'], ['Łódź', 'lodz'], ['Lodz', 'lodz'], ['Straße', 'strasse'], ['Strasse', 'strasse'],
        ['Søren', 'soren'], ['Soren', 'soren'], ['Æther', 'aether'], ['Aether', 'aether'], ['ÆTHER sessions', 'aether'],
      ];
      for (const [q, key] of cases) expect([q, ids(await found(q))]).toEqual([q, [e[key]!]]);
    });

    it('finds events despite one-letter typos and transposed letters', async () => {
      const cases: [string, string][] = [
        ['Metalxica', 'metallica'], ['Metalilca', 'metallica'], ['Mteallica', 'metallica'], ['Metallica Pupets', 'metallica'], ['Metalica Puppets', 'metallica'],
        ['Raidohead', 'radiohead'], ['Radiohaed Rainbows', 'radiohead'], ['Taylr London', 'taylor'], ['Taylor Swfit', 'taylor'],
        ['Bjrok', 'bjork'], ['Reunoin', 'reunion'], ['Beyonec', 'beyonce'],
      ];
      for (const [q, key] of cases) expect([q, ids(await found(q))]).toEqual([q, [e[key]!]]);
    });

    it('weighs a word in a long name over the same word as a whole venue location over a whole description', async () => {
      const r = await found('quokka');
      expect(ids(r)).toEqual([e.quokkaName!, e.quokkaLocation!, e.quokkaDescription!]);
      expect(r.events.map((x) => x.score)).toEqual([4, 2, 1]);
    });

    it("finds a show by its venue and an event by its venue's name", async () => {
      const vortex = await found('vortex jazz');
      expect(ids(vortex)).toEqual([e.vortex!]);
      expect(vortex.events[0]!.score).toBe(4);
      expect(ids(await found('paradiso'))).toEqual([e.paradiso!]);
    });

    it('lists upcoming events by date for a q of zero-width spaces', async () => {
      const all = await found('');
      expect(all.total).toBe(20);
      for (const q of ['%E2%80%8B', '%E2%80%8B%20%E2%80%8D%EF%BB%BF']) {
        const r = await search(t, `q=${q}&size=100`);
        expect([q, r.status, r.json.total, ids(r.json)]).toEqual([q, 200, 20, ids(all)]);
      }
    });

    it('keeps working when a description holds one very long word (a pasted hash or blob), finding it by its start', async () => {
      const blob = `zq${'x'.repeat(3000)}`;
      const withBlob = await createEvent(t, { name: 'Blob Night', description: blob, start_time: days(31) });
      const after = await createEvent(t, { name: 'Aftermath Concert', start_time: days(32) });
      expect(ids(await found('aftermath'))).toEqual([after]);
      expect(ids(await found('blob'))).toEqual([withBlob]);
      expect(ids(await found(blob.slice(0, 40)))).toEqual([withBlob]);
      const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: days(33), title: 'Zanzibar Showtime', venue: 'Hall' });
      expect(ids(await found('zanzibar'))).toEqual([show.json.show_id]);
    });

    it('answers the same as the other mode', async () => {
      const queries = ['adele', 'coldplay', 'tribute', 'live', 'quokka', 'metalica puppets', 'tour', 'the', 'royksopp', 'lodz'];
      const mine: Record<string, Ranked> = {};
      for (const q of queries) mine[q] = (await found(q)).events.map((x) => ({ name: x.name, score: x.score }));
      answers[mode] = mine;
      expect(mine.tour).toEqual([
        { name: 'Coldplay World Tour', score: 4 },
        { name: 'Røyksopp Tour', score: 4 },
      ]);
    });
  });
}

describe('event search in both modes', () => {
  it('gives the same hits in the same order with the same scores', () => {
    expect(answers.embedded).toBeDefined();
    expect(answers.distributed).toEqual(answers.embedded!);
  });
});

/** A word nothing else in the index contains, so that a search for it finds exactly what was just created. */
const freshWord = () => `ryw${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;

for (const mode of MODES) {
  describe(`event search right after a create (${mode})`, () => {
    let t: TestService;
    let ops: Record<string, string>;
    let venueId: string;

    const createdEvent = async (url: string, name: string) => {
      const created = await call(url, 'POST', '/api/events', { name, venue_id: venueId, start_time: days(15), seats: [{ label: 'A1', price: { amount: '10.00', currency: 'EUR' } }] }, ops);
      expect(created.status).toBe(201);
      return created.json.event_id as string;
    };
    const createdShow = async (url: string, title: string) => {
      const created = await call(url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: days(16), title, venue: 'Club' });
      expect(created.status).toBe(201);
      return created.json.show_id as string;
    };
    /** The first search after the 201, with no polling: read-your-writes. */
    const foundAtOnce = async (url: string, word: string) => ids((await call(url, 'GET', `/api/search/events?q=${word}`)).json);

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW.toISOString() });
      ops = opsHeaders(t);
      const venue = await call(t.url, 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops);
      expect(venue.status).toBe(201);
      venueId = venue.json.venue_id;
    });
    afterAll(() => t?.close());

    describe('when the search starts after the 201', () => {
      it('finds the new event and show on the first search after POST /api/events and POST /api/shows, 20 times in a row', async () => {
        for (let i = 0; i < 20; i++) {
          const eventWord = freshWord();
          const eventId = await createdEvent(t.url, `Gala ${eventWord}`);
          expect(await foundAtOnce(t.url, eventWord)).toEqual([eventId]);
          const showWord = freshWord();
          const showId = await createdShow(t.url, `Tribute ${showWord}`);
          expect(await foundAtOnce(t.url, showWord)).toEqual([showId]);
        }
      });

      it('finds each new event on the first search after its 201 while other creates commit, 20 rounds of 4 clients', async () => {
        const client = async () => {
          const word = freshWord();
          const eventId = await createdEvent(t.url, `Gala ${word}`);
          return { found: await foundAtOnce(t.url, word), expected: [eventId] };
        };
        for (let round = 0; round < 20; round++) {
          for (const { found, expected } of await Promise.all([client(), client(), client(), client()])) expect(found).toEqual(expected);
        }
      });
    });

    if (mode === 'distributed') {
      describe('when the create was answered by another instance', () => {
        it('finds on instance B what instance A has just created, 20 times in a row', async () => {
          const b = await startTestService(mode, { clockAt: NOW.toISOString(), joining: t });
          try {
            for (let i = 0; i < 20; i++) {
              const eventWord = freshWord();
              const eventId = await createdEvent(t.url, `Gala ${eventWord}`);
              expect(await foundAtOnce(b.url, eventWord)).toEqual([eventId]);
              const showWord = freshWord();
              const showId = await createdShow(t.url, `Tribute ${showWord}`);
              expect(await foundAtOnce(b.url, showWord)).toEqual([showId]);
            }
          } finally {
            await b.close();
          }
        });
      });
    }
  });
}
