-- The journal's identity (journal/identity.rs), the leverage set per symbol
-- (journal/leverage.rs) and the positions an operator acknowledged (journal/venue_ack.rs).
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leverage_settings (
    symbol TEXT PRIMARY KEY,
    leverage INTEGER NOT NULL,
    margin_mode TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acknowledged_positions (
    symbol TEXT PRIMARY KEY,
    acknowledged_at TEXT NOT NULL
);
