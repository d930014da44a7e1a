-- Stop ids to look up before re-protecting a `close_failed` position (the close step
-- overwrites stop_attempt).
ALTER TABLE orders ADD COLUMN stops_sent INTEGER NOT NULL DEFAULT 0;
