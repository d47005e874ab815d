-- The dead-letter list without a status filter is read newest first: an index in that order, so a
-- page is a range of it and not a sort of every letter ever written (they are kept).
CREATE INDEX dead_letters_failed_idx ON dead_letters (failed_at, id);
-- The debugger's actor list, most recently changed first. Its search for text reads the actors in
-- rounds of 256 and matches them in JavaScript (SQLite's LOWER() folds ASCII only): without this
-- index each round sorted the whole table, so one search cost a sort per 256 actors (6 s at 24 000
-- actors, with the process's only thread held by SQLite all along).
CREATE INDEX actors_updated_idx ON actors (updated_at, address);
