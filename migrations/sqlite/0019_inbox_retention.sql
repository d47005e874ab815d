-- Inbox rows are kept 7 days (the bus's memory of what it published is shorter): the retention sweep
-- deletes the older ones by this index instead of reading the whole table.
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);
