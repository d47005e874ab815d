-- What the debugger shows besides the log: the timer instructions of each journal step (JSON: set, cancel,
-- cancelAll, fired; NULL when the step touched no timer) ...
ALTER TABLE journal ADD COLUMN timers TEXT;

-- ... the effect of the handler that processed a message (`local` or `external`: an external one is a call
-- to another service; NULL for rows written before this migration) ...
ALTER TABLE inbox ADD COLUMN effect TEXT;

-- ... and every failed handler attempt, written outside the handler's transaction, best-effort: one row per
-- failure, none per success.
CREATE TABLE delivery_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  handler TEXT NOT NULL,
  effect TEXT NOT NULL,
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  error TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX delivery_attempts_message ON delivery_attempts (message_id, id);
