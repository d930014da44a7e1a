-- Per-exchange position params set by Params.Set (issue 11): the leverage and margin mode the
-- agents set per symbol before entries, and the entry size in USD. NULL: the agent's config.
ALTER TABLE exchange_params ADD COLUMN leverage BIGINT;
ALTER TABLE exchange_params ADD COLUMN margin_mode TEXT;
ALTER TABLE exchange_params ADD COLUMN position_size_usd DOUBLE PRECISION;
