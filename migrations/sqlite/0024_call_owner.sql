-- Which attempt wrote a `calls_started` row: a random token per attempt. When the commit of that row
-- fails on the way back (the connection dropped as the server committed), the instance that wrote it
-- knows the call was never made; finding its own token on a later attempt, it makes the call instead of
-- dead-lettering the message as one whose call may have taken effect. Rows of earlier versions have none.
ALTER TABLE calls_started ADD COLUMN started_by TEXT;
