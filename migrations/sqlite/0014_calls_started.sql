-- Calls of a `notRepeatable` handler (to a service that does not deduplicate) that have started and
-- whose end is not recorded yet. Written and committed before the call; deleted in the transaction of
-- the handler's inbox row. A row found by a later delivery means an earlier one stopped during its call
-- (a crash), which may have taken effect: that message is dead-lettered for ops instead of called again.
CREATE TABLE calls_started (
  handler TEXT NOT NULL,
  message_id TEXT NOT NULL,
  started_at TEXT NOT NULL,
  PRIMARY KEY (handler, message_id)
);
