-- The protective stop's step (journal/stop_state.rs).
ALTER TABLE orders ADD COLUMN stop_state TEXT NOT NULL DEFAULT 'none';
ALTER TABLE orders ADD COLUMN stop_attempt INTEGER NOT NULL DEFAULT 0;
