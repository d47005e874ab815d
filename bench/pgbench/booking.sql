-- What one POST /api/book-tickets (1 seat) makes PostgreSQL do on its synchronous path, statement by
-- statement as the service sends them (src/actors/runtime.ts, src/store/shared.ts writeCommit,
-- src/features/shows/shows.inventory.ts takeSeats), with payloads of the same shape and size.
-- (No colon appears inside a string literal: pgbench would take it for a variable.)
-- Run with -M prepared (the service's driver, Bun's built-in client, uses named prepared statements)
-- and -D shows=<number of shows seeded by shows.sql>:
--   pgbench -n -M prepared -D shows=200 -f bench/pgbench/booking.sql -c 32 -j 2 -T 20 <database>
--
-- 1. ActorRuntime.load on a cache miss: SELECT the actor row by address (outside the transaction); it
--    is not there. The same round trip also mints the ids and the JSON texts that the service builds
--    in process (ids.uuid(), JSON.stringify), so that they cost no extra round trip. Ids are time-ordered
--    like the service's (UUIDv7 layout: 48 bits of milliseconds first), which keeps index inserts local.
\set show random(1, :shows)
SELECT 'booking/' || b.bid AS addr, b.bid, b.mid, b.sid, b.cid, b.at, md5(b.cid) AS tid,
       json_build_object('value', 'placing', 'status', 'active',
         'context', json_build_object('showId', b.sid, 'bookedAt', b.at, 'bookingId', b.bid, 'vipBundleId', null,
                                      'customerEmail', 'bench@example.com', 'numberOfTickets', 1),
         'children', json_build_object(), 'historyValue', json_build_object())::text AS snap,
       json_build_object('booking_id', b.bid, 'show_id', b.sid, 'number_of_tickets', 1, 'customer_email', 'bench@example.com',
                         'vip_bundle_id', null, 'booked_at', b.at)::text AS data,
       json_build_object('correlation_id', b.cid, 'traceparent', '00-' || md5(b.cid) || '-' || left(md5(b.mid), 16) || '-01')::text AS meta,
       json_build_object('type', 'booking.make', 'now', b.at, 'booking_id', b.bid, 'show_id', b.sid, 'number_of_tickets', 1,
                         'customer_email', 'bench@example.com')::text AS event,
       json_build_array(b.mid)::text AS mids,
       (a.address IS NOT NULL) AS found
  FROM (SELECT t.ms || substr(gen_random_uuid()::text, 14) AS bid, t.ms || substr(gen_random_uuid()::text, 14) AS mid,
               t.ms || substr(gen_random_uuid()::text, 14) AS cid,
               '00000000-0000-4000-8000-' || lpad(:show::text, 12, '0') AS sid,
               left(to_json(t.now AT TIME ZONE 'UTC') #>> '{}', 23) || 'Z' AS at
          FROM (SELECT c.now, substr(c.hex, 1, 8) || '-' || substr(c.hex, 9, 4) AS ms
                  FROM (SELECT clock_timestamp() AS now,
                               lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') AS hex) AS c) AS t) AS b
  LEFT JOIN actors a ON a.address = 'booking/' || b.bid
\gset
-- 2. PostgresStore.commit: one transaction. writeCommit issues its statements together and the driver
--    pipelines them (one round trip); so does this script.
BEGIN;
\startpipeline
-- writeCommit: the actor row (expectedVersion 0), with its JSON snapshot.
INSERT INTO actors (address, kind, machine_id, version, last_seq, state, status, snapshot, created_at, updated_at)
VALUES (:addr, 'booking', 'booking-v1', 1, 1, 'placing', 'active', :snap, :at, :at)
ON CONFLICT (address) DO NOTHING;
-- insertMessages: BookingMade_v1.
INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at)
VALUES (:mid, 'BookingMade_v1', 'event', :addr, 1, :data, :meta, :at)
RETURNING id, position;
-- No timers (the booking stays active). insertJournal:
INSERT INTO journal (address, version, event, from_state, to_state, snapshot, message_ids, rejected, at, correlation_id, trace_id)
VALUES (:addr, 1, :event, 'new', 'placing', :snap, :mids, false, :at, :cid, :tid);
\endpipeline
-- The inline handler showInventory on BookingMade_v1 (takeSeats): capacity enforced by the database.
UPDATE shows SET seats_taken = seats_taken + 1 WHERE show_id = :sid AND seats_taken + 1 <= number_of_tickets;
INSERT INTO booking_seats (booking_id, show_id, seats) SELECT :bid, show_id, 1 FROM shows WHERE show_id = :sid
ON CONFLICT (booking_id) DO UPDATE SET show_id = excluded.show_id, seats = excluded.seats WHERE booking_seats.show_id IS NULL
RETURNING tickets;
-- No idempotency record: the benchmark sends no Idempotency-Key.
COMMIT;
