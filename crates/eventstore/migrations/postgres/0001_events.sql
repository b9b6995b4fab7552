-- The event log. See docs/event-store.md for why each column exists.
CREATE TABLE IF NOT EXISTS events (
    global_position BIGINT      PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    stream_id       TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    shop_id         TEXT        NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    correlation_id  UUID,
    causation_id    UUID,
    actor           TEXT,
    traceparent     TEXT,
    payload         JSONB       NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_shop_position ON events (shop_id, global_position);

-- Where each follower (outbox relay, projection) has got to in the global order.
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT   PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Inbox: upstream events a consumer has acted on, written in the same
-- transaction as the events the consumer appended in response.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Read-model documents and aggregate snapshots, keyed by the owning service.
-- Always derived from the log: deleting a row loses nothing.
CREATE TABLE IF NOT EXISTS snapshots (
    key      TEXT   PRIMARY KEY,
    version  BIGINT NOT NULL,
    position BIGINT NOT NULL,
    body     TEXT   NOT NULL
);
