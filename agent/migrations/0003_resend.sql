-- What a re-sent wave needs to settle an order without its signal and keep the first run's
-- target; NULL in older rows means "not known".
ALTER TABLE orders ADD COLUMN side TEXT;
ALTER TABLE orders ADD COLUMN wave_target INTEGER;
ALTER TABLE orders ADD COLUMN rank_index INTEGER;
ALTER TABLE orders ADD COLUMN round INTEGER;
