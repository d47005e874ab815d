-- What the debugger shows besides the log: the timer instructions of each journal step (set, cancel,
-- cancelAll, fired; NULL when the step touched no timer) ...
ALTER TABLE journal ADD COLUMN timers jsonb;

-- ... the effect of the handler that processed a message (`local` or `external`: an external one is a call
-- to another service; NULL for rows written before this migration) ...
ALTER TABLE inbox ADD COLUMN effect text;

-- ... and every failed handler attempt, written outside the handler's transaction, best-effort: one row per
-- failure, none per success.
CREATE TABLE delivery_attempts (
  id         bigserial PRIMARY KEY,
  handler    text NOT NULL,
  effect     text NOT NULL,
  message_id text NOT NULL,
  attempt    integer NOT NULL,
  error      text NOT NULL,
  at         text NOT NULL
);
CREATE INDEX delivery_attempts_message ON delivery_attempts (message_id, id);
