-- Leases: work that only one process may do at a time, whichever instance or command runs it (a read
-- model's rebuild). The holder renews `renewed_at` as it goes; a lease not renewed for a while belongs
-- to a process that died, and the next claimer takes it over.
CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  renewed_at TEXT NOT NULL
);
