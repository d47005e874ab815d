-- Shows of the compatibility API: general-admission seats whose count the database guards.
CREATE TABLE shows (
  show_id TEXT PRIMARY KEY,
  dead_nation_id TEXT NOT NULL UNIQUE,
  number_of_tickets INTEGER NOT NULL CHECK (number_of_tickets >= 1),
  seats_taken INTEGER NOT NULL DEFAULT 0 CHECK (seats_taken >= 0 AND seats_taken <= number_of_tickets),
  start_time TEXT NOT NULL,
  title TEXT NOT NULL,
  venue TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX shows_start_time ON shows (start_time, show_id);

-- Seats each booking still holds, so that cancelling a booking and cancelling or refunding its tickets
-- never give the same seat back twice.
CREATE TABLE booking_seats (
  booking_id TEXT PRIMARY KEY,
  show_id TEXT NOT NULL REFERENCES shows (show_id),
  seats INTEGER NOT NULL CHECK (seats >= 0)
);

-- Every fact, as delivered to the data-lake handler. No unique constraint on message_id on purpose:
-- the handler's inbox alone makes each fact land once, and counting rows proves it.
CREATE TABLE data_lake (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  name TEXT NOT NULL,
  actor TEXT NOT NULL,
  payload TEXT NOT NULL,
  published_at TEXT NOT NULL,
  stored_at TEXT NOT NULL
);
CREATE INDEX data_lake_message ON data_lake (message_id);
