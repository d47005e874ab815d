-- Core tables of the actor runtime (PostgreSQL). Times are RFC 3339 UTC text, as in SQLite, so that both
-- dialects compare them the same way.

CREATE TABLE schema_migrations (
  name       text PRIMARY KEY,
  applied_at text NOT NULL
);

CREATE TABLE actors (
  address    text PRIMARY KEY,
  kind       text NOT NULL,
  machine_id text NOT NULL,
  version    integer NOT NULL,
  last_seq   integer NOT NULL,
  state      text NOT NULL,
  status     text NOT NULL CHECK (status IN ('active', 'done', 'error', 'stopped')),
  snapshot   jsonb NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL
);

-- tx_id lets readers stop at the oldest transaction still running, so that positions are read in
-- commit order. The (actor, actor_seq) constraint also serves "messages of one actor in order".
CREATE TABLE messages (
  position    bigserial PRIMARY KEY,
  tx_id       xid8 NOT NULL DEFAULT pg_current_xact_id(),
  id          text NOT NULL UNIQUE,
  name        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('event', 'command')),
  actor       text NOT NULL,
  actor_seq   integer NOT NULL,
  data        jsonb NOT NULL,
  metadata    jsonb NOT NULL,
  occurred_at text NOT NULL,
  CONSTRAINT messages_actor_seq_key UNIQUE (actor, actor_seq)
);

CREATE TABLE journal (
  id             bigserial PRIMARY KEY,
  address        text NOT NULL,
  version        integer NOT NULL,
  event          jsonb NOT NULL,
  from_state     text NOT NULL,
  to_state       text NOT NULL,
  snapshot       jsonb,
  message_ids    jsonb NOT NULL,
  rejected       boolean NOT NULL,
  at             text NOT NULL,
  correlation_id text,
  trace_id       text
);

CREATE INDEX journal_address_idx ON journal (address, id);

CREATE TABLE timers (
  address        text NOT NULL,
  name           text NOT NULL,
  due_at         text NOT NULL,
  event          jsonb NOT NULL,
  lease_owner    text,
  lease_until    text,
  attempts       integer NOT NULL DEFAULT 0,
  traceparent    text,
  correlation_id text,
  PRIMARY KEY (address, name)
);

CREATE INDEX timers_due_at_idx ON timers (due_at);

CREATE TABLE idempotency_keys (
  scope        text NOT NULL,
  key          text NOT NULL,
  fingerprint  text NOT NULL,
  state        text NOT NULL CHECK (state IN ('in_progress', 'completed')),
  status       integer,
  body         text,
  headers      jsonb,
  locked_until text NOT NULL,
  expires_at   text NOT NULL,
  created_at   text NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
