-- Valid tickets (confirmed, neither cancelled nor refunded) of each booking, beside the seats it holds:
-- a ticket the provider confirms beyond the seats booked takes one more seat when there is one, and a
-- cancelled or refunded ticket gives a seat back only while the booking holds more seats than it still
-- has valid tickets. Rows from before count 0 tickets, which gives a seat back per ticket, as before.
ALTER TABLE booking_seats ADD COLUMN tickets INTEGER NOT NULL DEFAULT 0;
