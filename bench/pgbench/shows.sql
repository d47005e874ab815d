-- Seeds the pgbench database (migrated with `bun src/main.ts migrate`) with :shows shows of :seats seats,
-- as POST /api/shows leaves them (the showInventory insert). Show n has the id
-- 00000000-0000-4000-8000-<n on 12 digits>, which booking.sql derives from its random show number.
-- psql -v shows=200 -v seats=10000 -f bench/pgbench/shows.sql <database>
INSERT INTO shows (show_id, dead_nation_id, number_of_tickets, start_time, title, venue, created_at)
SELECT '00000000-0000-4000-8000-' || lpad(n::text, 12, '0'), 'pgbench-' || n, :seats,
       '2030-01-01T20:00:00.000Z', 'Bench show ' || n, 'Bench Hall', '2026-01-01T00:00:00.000Z'
  FROM generate_series(1, :shows) AS n;
ANALYZE;
