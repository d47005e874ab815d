-- What happened to one actor's messages (the debugger's timeline and its live stream) is looked up by
-- message id; the primary keys of these tables start with the handler.
CREATE INDEX inbox_message_idx ON inbox (message_id);
CREATE INDEX dead_letters_message_idx ON dead_letters (message_id);
