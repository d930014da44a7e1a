-- The params each exchange of a wave was dispatched with (JSON, written before the first Start
-- in the same transaction as the wave's params update), so a resumed wave is sent exactly what
-- its first dispatch sent, whatever was stored since.
ALTER TABLE waves ADD COLUMN params TEXT;
