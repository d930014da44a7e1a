-- A signal's position params (issue 11): the leverage, margin mode ('cross' or 'isolated') and
-- entry size in USD it carries, applied to the exchange's stored params like max_trades and the
-- stop/trailing percentages when its wave is dispatched. NULL: not carried.
ALTER TABLE signals ADD COLUMN leverage INTEGER;
ALTER TABLE signals ADD COLUMN margin_mode TEXT;
ALTER TABLE signals ADD COLUMN position_size_usd REAL;
