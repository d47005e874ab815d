-- A ticket the provider confirms for a booking not made yet (a VIP bundle's booking is made after its
-- 201) is counted on a row of its own, with no show and no seat, which the booking takes over when it
-- comes. SQLite cannot drop NOT NULL from a column: the table is made again without it.
CREATE TABLE booking_seats_next (
  booking_id TEXT PRIMARY KEY,
  show_id TEXT REFERENCES shows (show_id),
  seats INTEGER NOT NULL CHECK (seats >= 0),
  tickets INTEGER NOT NULL DEFAULT 0
);
INSERT INTO booking_seats_next (booking_id, show_id, seats, tickets) SELECT booking_id, show_id, seats, tickets FROM booking_seats;
DROP TABLE booking_seats;
ALTER TABLE booking_seats_next RENAME TO booking_seats;
