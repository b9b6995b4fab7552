-- The event log. See docs/event-store.md for why each column exists.
-- Instants are integer microseconds since the Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    event_id        BLOB    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    shop_id         TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    correlation_id  BLOB,
    causation_id    BLOB,
    actor           TEXT,
    traceparent     TEXT,
    payload         TEXT    NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_shop_position ON events (shop_id, global_position);

CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT    NOT NULL,
    event_id     BLOB    NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE IF NOT EXISTS snapshots (
    key      TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL,
    body     TEXT    NOT NULL
);
