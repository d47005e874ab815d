-- A sold numbered seat remembers the ticket it was sold as, so that the ticket's refund or
-- cancellation (TicketRefunded_v1, TicketBookingCanceled_v1) frees that seat and no other; and a
-- sold hold counts the tickets of it given back (`returned`), which no longer count against its buyer's
-- max_seats_per_user.
ALTER TABLE event_seats ADD COLUMN ticket_id TEXT;
ALTER TABLE holds ADD COLUMN returned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX event_seats_ticket ON event_seats (ticket_id);

-- Seats sold before this migration: their tickets are in the sale facts of the log.
UPDATE event_seats es SET ticket_id = t.value->>'ticket_id'
  FROM messages m CROSS JOIN LATERAL jsonb_array_elements(m.data->'tickets') AS t(value)
 WHERE m.name = 'TicketsSold_v1' AND es.status = 'sold'
   AND es.hold_id = m.data->>'hold_id' AND es.label = t.value->>'seat';

-- Seats whose tickets were already refunded or cancelled stayed sold until now: free them.
UPDATE event_seats SET status = 'available', hold_id = NULL, user_id = NULL, held_until = NULL, ticket_id = NULL
 WHERE status = 'sold' AND ticket_id IN (
   SELECT data->>'ticket_id' FROM messages WHERE name IN ('TicketRefunded_v1', 'TicketBookingCanceled_v1'));

-- Tickets of sales already refunded or cancelled no longer count against their buyer.
UPDATE holds h SET returned = LEAST(h.quantity, r.n)
  FROM (SELECT data->>'booking_id' AS hold_id, COUNT(*) AS n FROM messages
         WHERE name IN ('TicketRefunded_v1', 'TicketBookingCanceled_v1') GROUP BY 1) AS r
 WHERE h.hold_id = r.hold_id AND h.status = 'sold';
