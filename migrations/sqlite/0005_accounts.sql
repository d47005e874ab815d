-- Accounts. The e-mail is stored trimmed and lower-cased, so the unique constraint makes it unique
-- whatever the case; the role is `customer` for registered users, `ops` for the configured account.
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('customer', 'ops')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
