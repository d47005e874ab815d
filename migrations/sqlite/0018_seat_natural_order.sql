-- Seats are listed, and held by quantity, in the order people read their labels: runs of digits by
-- their value (A1, A2, A10), the rest byte by byte as before. `label_order` is the label with every
-- run of 1 to 11 ASCII digits left-padded with zeros to 12; the service writes it with each seat.
-- SQLite has no regular expressions: existing labels are walked a character at a time.
ALTER TABLE event_seats ADD COLUMN label_order TEXT;
UPDATE event_seats SET label_order = (
  WITH RECURSIVE walk(i, digits, out) AS (
    SELECT 0, '', ''
    UNION ALL
    SELECT i + 1,
      CASE WHEN substr(label, i + 1, 1) GLOB '[0-9]' THEN digits || substr(label, i + 1, 1) ELSE '' END,
      CASE WHEN substr(label, i + 1, 1) GLOB '[0-9]' THEN out
           ELSE out || CASE WHEN length(digits) BETWEEN 1 AND 11 THEN substr('00000000000' || digits, -12, 12) ELSE digits END || substr(label, i + 1, 1) END
      FROM walk WHERE i < length(label)
  )
  SELECT out || CASE WHEN length(digits) BETWEEN 1 AND 11 THEN substr('00000000000' || digits, -12, 12) ELSE digits END
    FROM walk ORDER BY i DESC LIMIT 1
);
CREATE INDEX event_seats_label_order ON event_seats (event_id, label_order, label);
