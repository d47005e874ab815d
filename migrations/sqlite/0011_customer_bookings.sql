-- When each hold was sold, for a customer's bookings newest first (GET /api/me/bookings). Holds sold
-- before this migration take the time of their TicketsSold_v1 fact.
ALTER TABLE holds ADD COLUMN sold_at TEXT;
UPDATE holds
   SET sold_at = (SELECT MIN(m.occurred_at) FROM messages m WHERE m.actor = 'hold/' || holds.hold_id AND m.name = 'TicketsSold_v1')
 WHERE status = 'sold';
CREATE INDEX holds_user_sold ON holds (user_id, sold_at, hold_id) WHERE status = 'sold';
