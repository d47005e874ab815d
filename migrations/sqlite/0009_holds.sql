-- Every hold, numbered seats or general admission: how many seats one user holds on one event, until
-- when. The per-user limits count these rows, and a show's live holds are its rows still `held` with
-- `held_until` in the future (released/expired/sold rows stay, for the seats-bought count).
CREATE TABLE holds (
  hold_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity >= 1),
  status TEXT NOT NULL CHECK (status IN ('held', 'sold', 'released', 'expired')),
  held_until TEXT NOT NULL
);
CREATE INDEX holds_user ON holds (user_id, status, held_until);
CREATE INDEX holds_event_user ON holds (event_id, user_id);
CREATE INDEX holds_event_live ON holds (event_id, status, held_until);

-- One row per user who has placed a hold. Placing a hold writes it first, so that one user's holds are
-- placed one at a time (its row lock) and the per-user limits are counted without a race.
CREATE TABLE hold_users (
  user_id TEXT PRIMARY KEY,
  last_hold_at TEXT NOT NULL
);

-- Seats of a show taken by general-admission holds (live, or lapsed and not yet given back).
ALTER TABLE shows ADD COLUMN seats_held INTEGER NOT NULL DEFAULT 0 CHECK (seats_held >= 0);

INSERT INTO holds (hold_id, event_id, user_id, quantity, status, held_until)
SELECT hold_id, event_id, MIN(user_id), COUNT(*), CASE WHEN MAX(status) = 'sold' THEN 'sold' ELSE 'held' END, COALESCE(MAX(held_until), '')
FROM event_seats WHERE hold_id IS NOT NULL GROUP BY hold_id, event_id;
