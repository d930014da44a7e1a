-- The trailing stop's step (journal/trailing.rs). Older rows read `off`: a trailing stop they
-- placed was not journaled and is not recovered.
ALTER TABLE orders ADD COLUMN trailing_state TEXT NOT NULL DEFAULT 'off';
ALTER TABLE orders ADD COLUMN trailing_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN trailing_activation REAL;
ALTER TABLE orders ADD COLUMN trailing_distance REAL;
ALTER TABLE orders ADD COLUMN trailing_error TEXT;
