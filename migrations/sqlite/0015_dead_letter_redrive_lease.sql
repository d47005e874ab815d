-- When a redrive of a dead letter began, while it runs: a second redrive of the same letter meanwhile
-- is refused instead of running the handler a second time. A lease, so that the redrive of an instance
-- that stopped during it does not hold the letter for ever.
ALTER TABLE dead_letters ADD COLUMN redrive_started_at TEXT;
