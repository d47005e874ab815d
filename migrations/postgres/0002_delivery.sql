-- Checkpoints of log readers (the outbox relay, the reconciler, projections): where each has got to in
-- the event log's commit order, as (transaction id, position) because positions are not assigned in
-- commit order when transactions overlap.
CREATE TABLE checkpoints (
  name TEXT PRIMARY KEY,
  tx BIGINT NOT NULL DEFAULT 0,
  position BIGINT NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);

-- Messages a handler has already processed: written in the handler's own transaction (exactly-once local
-- effects), or after an idempotent external call.
CREATE TABLE inbox (
  handler TEXT NOT NULL,
  message_id TEXT NOT NULL,
  processed_at TEXT NOT NULL,
  PRIMARY KEY (handler, message_id)
);

-- Messages that failed past their retry budget, with the error, until ops redrive them.
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  handler TEXT NOT NULL,
  stream TEXT NOT NULL,
  message_id TEXT NOT NULL,
  message JSONB NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'dead',
  failed_at TEXT NOT NULL,
  redriven_at TEXT,
  UNIQUE (handler, message_id)
);
CREATE INDEX dead_letters_status ON dead_letters (status, failed_at);

CREATE INDEX messages_commit_order ON messages (tx_id, position);
