-- Core tables of the actor runtime (SQLite). Times are RFC 3339 UTC text; JSON is text.

CREATE TABLE schema_migrations (
  name       TEXT PRIMARY KEY,
  applied_at TEXT NOT NULL
);

CREATE TABLE actors (
  address    TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  machine_id TEXT NOT NULL,
  version    INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL,
  state      TEXT NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('active', 'done', 'error', 'stopped')),
  snapshot   TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- The (actor, actor_seq) constraint also serves "messages of one actor in order".
CREATE TABLE messages (
  position    INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('event', 'command')),
  actor       TEXT NOT NULL,
  actor_seq   INTEGER NOT NULL,
  data        TEXT NOT NULL,
  metadata    TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  CONSTRAINT messages_actor_seq_key UNIQUE (actor, actor_seq)
);

CREATE TABLE journal (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  address        TEXT NOT NULL,
  version        INTEGER NOT NULL,
  event          TEXT NOT NULL,
  from_state     TEXT NOT NULL,
  to_state       TEXT NOT NULL,
  snapshot       TEXT,
  message_ids    TEXT NOT NULL,
  rejected       INTEGER NOT NULL,
  at             TEXT NOT NULL,
  correlation_id TEXT,
  trace_id       TEXT
);

CREATE INDEX journal_address_idx ON journal (address, id);

CREATE TABLE timers (
  address        TEXT NOT NULL,
  name           TEXT NOT NULL,
  due_at         TEXT NOT NULL,
  event          TEXT NOT NULL,
  lease_owner    TEXT,
  lease_until    TEXT,
  attempts       INTEGER NOT NULL DEFAULT 0,
  traceparent    TEXT,
  correlation_id TEXT,
  PRIMARY KEY (address, name)
);

CREATE INDEX timers_due_at_idx ON timers (due_at);

CREATE TABLE idempotency_keys (
  scope        TEXT NOT NULL,
  key          TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
  status       INTEGER,
  body         TEXT,
  headers      TEXT,
  locked_until TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
