-- Seats are listed, and held by quantity, in the order people read their labels: runs of digits by
-- their value (A1, A2, A10), the rest byte by byte as before. `label_order` is the label with every
-- run of 1 to 11 ASCII digits left-padded with zeros to 12; the service writes it with each seat.
ALTER TABLE event_seats ADD COLUMN label_order TEXT COLLATE "C";
UPDATE event_seats s SET label_order = (
  SELECT string_agg(CASE WHEN r.m[1] ~ '^[0-9]{1,11}$' THEN lpad(r.m[1], 12, '0') ELSE r.m[1] END, '' ORDER BY r.n)
    FROM regexp_matches(s.label, '[0-9]+|[^0-9]+', 'g') WITH ORDINALITY AS r(m, n)
);
ALTER TABLE event_seats ALTER COLUMN label_order SET NOT NULL;
CREATE INDEX event_seats_label_order ON event_seats (event_id, label_order, label);
