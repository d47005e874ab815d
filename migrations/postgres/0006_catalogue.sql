-- The catalogue (venues, performers, events with seats) and the seat inventory of holds.
CREATE TABLE venues (
  venue_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  location TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE performers (
  performer_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- Venue and performer names as they were when the event was created (performers: a JSON array).
CREATE TABLE catalogue_events (
  event_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  start_time TEXT NOT NULL,
  venue TEXT NOT NULL,
  performers TEXT NOT NULL,
  ttl_seconds INTEGER NOT NULL,
  max_renewals INTEGER NOT NULL,
  max_seats_per_user INTEGER NOT NULL,
  created_at TEXT NOT NULL
);

-- One row per seat: the database decides who gets it. A seat is free when `available`, or `held` with
-- `held_until` in the past (an expiry whose timer has not fired yet); reserving is one conditional
-- UPDATE over all the hold's seats in the commit transaction.
CREATE TABLE event_seats (
  event_id TEXT NOT NULL,
  label TEXT NOT NULL,
  price_amount TEXT NOT NULL,
  price_currency TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
  hold_id TEXT,
  user_id TEXT,
  held_until TEXT,
  PRIMARY KEY (event_id, label)
);
CREATE INDEX event_seats_hold ON event_seats (hold_id);
CREATE INDEX event_seats_user ON event_seats (event_id, user_id);
