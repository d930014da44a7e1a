-- The first release's schema. IF NOT EXISTS: harmless on a journal adopted from before sqlx.
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    wave_id TEXT NOT NULL,
    signal_id INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    state TEXT NOT NULL,
    exchange_order_id TEXT,
    executed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    fill_price REAL NOT NULL DEFAULT 0,
    quantity REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_wave ON orders (wave_id, signal_id);
CREATE TABLE IF NOT EXISTS wave_results (
    wave_id TEXT PRIMARY KEY,
    result BLOB NOT NULL,
    completed_at TEXT NOT NULL
);
