-- The dead-letter list without a status filter is read newest first: an index in that order, so a
-- page is a range of it and not a sort of every letter ever written (they are kept).
CREATE INDEX dead_letters_failed_idx ON dead_letters (failed_at, id);
-- The debugger's actor list (most recently changed first) has no such index in PostgreSQL on purpose:
-- every command updates updated_at, and an index on it would make each of those updates write every
-- index of the table again (no HOT update). A page of it scans the table (about 0.2 s at 100 000 actors).
