-- wavegate coordinator schema (PostgreSQL). Instants are Unix epoch milliseconds (BIGINT) so the
-- same queries run on SQLite (INTEGER) through sqlx's Any driver.

CREATE TABLE exchange_params (
    exchange_id BIGINT PRIMARY KEY,
    exchange_name TEXT NOT NULL,
    max_trades BIGINT NOT NULL,
    buffer_size BIGINT,
    stop_loss_percent DOUBLE PRECISION,
    trailing_activation_percent DOUBLE PRECISION,
    trailing_distance_percent DOUBLE PRECISION,
    updated_at BIGINT NOT NULL
);

CREATE TABLE waves (
    id TEXT PRIMARY KEY,
    wave_ts BIGINT NOT NULL,
    status TEXT NOT NULL,
    signal_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_signal_at BIGINT NOT NULL,
    close_by BIGINT NOT NULL,
    closed_at BIGINT,
    completed_at BIGINT,
    owner TEXT,
    lease_until BIGINT,
    deadline_at BIGINT,
    reason TEXT,
    totals TEXT
);
CREATE INDEX waves_status ON waves (status);

CREATE TABLE signals (
    wave_id TEXT NOT NULL,
    signal_id BIGINT NOT NULL,
    exchange_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    action TEXT NOT NULL,
    score_week DOUBLE PRECISION NOT NULL,
    score_month DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    max_trades BIGINT,
    stop_loss_percent DOUBLE PRECISION,
    trailing_activation_percent DOUBLE PRECISION,
    trailing_distance_percent DOUBLE PRECISION,
    PRIMARY KEY (wave_id, signal_id)
);

CREATE TABLE wave_exchange_results (
    wave_id TEXT NOT NULL,
    exchange_id BIGINT NOT NULL,
    exchange_name TEXT NOT NULL,
    executed BIGINT NOT NULL,
    target BIGINT NOT NULL,
    error TEXT,
    stats TEXT NOT NULL,
    PRIMARY KEY (wave_id, exchange_id)
);

CREATE TABLE signal_outcomes (
    wave_id TEXT NOT NULL,
    exchange_id BIGINT NOT NULL,
    signal_id BIGINT NOT NULL,
    stage BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    kind BIGINT NOT NULL,
    executed BIGINT NOT NULL,
    error TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    exchange_order_id TEXT NOT NULL,
    fill_price DOUBLE PRECISION NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    latency_us BIGINT NOT NULL,
    round BIGINT NOT NULL,
    PRIMARY KEY (wave_id, exchange_id, signal_id, stage)
);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,
    event_data TEXT NOT NULL,
    correlation_id TEXT,
    symbol TEXT,
    exchange TEXT,
    severity TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Makes an event idempotent: WAVE_COMPLETED is stored once per wave, a re-sent outcome once.
    dedup_key TEXT UNIQUE
);
CREATE INDEX events_correlation ON events (correlation_id, event_type);
