-- Seat labels sort and compare byte by byte, as in SQLite, whatever the database's locale: with a
-- locale collation `a1`/`B1` or `A-2`/`A1` ordered differently on the two stores (GET /api/events/:id
-- lists seats by label; holds by quantity take the first free labels).
ALTER TABLE event_seats ALTER COLUMN label TYPE TEXT COLLATE "C";
