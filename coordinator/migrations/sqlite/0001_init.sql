-- wavegate coordinator schema (SQLite). Instants are Unix epoch milliseconds (INTEGER) so the
-- same queries run on PostgreSQL (BIGINT) through sqlx's Any driver.

CREATE TABLE exchange_params (
    exchange_id INTEGER PRIMARY KEY,
    exchange_name TEXT NOT NULL,
    max_trades INTEGER NOT NULL,
    buffer_size INTEGER,
    stop_loss_percent REAL,
    trailing_activation_percent REAL,
    trailing_distance_percent REAL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE waves (
    id TEXT PRIMARY KEY,
    wave_ts INTEGER NOT NULL,
    status TEXT NOT NULL,
    signal_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_signal_at INTEGER NOT NULL,
    close_by INTEGER NOT NULL,
    closed_at INTEGER,
    completed_at INTEGER,
    owner TEXT,
    lease_until INTEGER,
    deadline_at INTEGER,
    reason TEXT,
    totals TEXT
);
CREATE INDEX waves_status ON waves (status);

CREATE TABLE signals (
    wave_id TEXT NOT NULL,
    signal_id INTEGER NOT NULL,
    exchange_id INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    action TEXT NOT NULL,
    score_week REAL NOT NULL,
    score_month REAL NOT NULL,
    created_at INTEGER NOT NULL,
    max_trades INTEGER,
    stop_loss_percent REAL,
    trailing_activation_percent REAL,
    trailing_distance_percent REAL,
    PRIMARY KEY (wave_id, signal_id)
);

CREATE TABLE wave_exchange_results (
    wave_id TEXT NOT NULL,
    exchange_id INTEGER NOT NULL,
    exchange_name TEXT NOT NULL,
    executed INTEGER NOT NULL,
    target INTEGER NOT NULL,
    error TEXT,
    stats TEXT NOT NULL,
    PRIMARY KEY (wave_id, exchange_id)
);

CREATE TABLE signal_outcomes (
    wave_id TEXT NOT NULL,
    exchange_id INTEGER NOT NULL,
    signal_id INTEGER NOT NULL,
    stage INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    kind INTEGER NOT NULL,
    executed INTEGER NOT NULL,
    error TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    exchange_order_id TEXT NOT NULL,
    fill_price REAL NOT NULL,
    quantity REAL NOT NULL,
    latency_us INTEGER NOT NULL,
    round INTEGER NOT NULL,
    PRIMARY KEY (wave_id, exchange_id, signal_id, stage)
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL,
    event_data TEXT NOT NULL,
    correlation_id TEXT,
    symbol TEXT,
    exchange TEXT,
    severity TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Makes an event idempotent: WAVE_COMPLETED is stored once per wave, a re-sent outcome once.
    dedup_key TEXT UNIQUE
);
CREATE INDEX events_correlation ON events (correlation_id, event_type);
