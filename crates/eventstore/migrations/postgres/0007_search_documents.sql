-- Searchable read-model documents (issue 15 item 4: chat's conversations and
-- transcripts leave memory). Derived from the log like snapshots: a rebuild
-- deletes an index and projects it again. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS documents (
    index_name  TEXT   NOT NULL,
    shop_id     TEXT   NOT NULL,
    doc_id      TEXT   NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT,
    version     BIGINT NOT NULL,
    terms       TEXT   NOT NULL,
    search_text TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    body_lz4    BYTEA,
    PRIMARY KEY (index_name, shop_id, doc_id)
);
-- Pages of one shop, newest first, and its time windows.
CREATE INDEX IF NOT EXISTS documents_by_start
    ON documents (index_name, shop_id, starts_at DESC, doc_id DESC);
CREATE INDEX IF NOT EXISTS documents_by_end
    ON documents (index_name, shop_id, ends_at) WHERE ends_at IS NOT NULL;
ALTER TABLE documents ALTER COLUMN body_lz4 SET STORAGE EXTERNAL;

-- Exact-match keys of a document ("buyer:b1", "agent:a7"): one probe each.
CREATE TABLE IF NOT EXISTS document_terms (
    index_name TEXT NOT NULL,
    shop_id    TEXT NOT NULL,
    term       TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    PRIMARY KEY (index_name, shop_id, term, doc_id)
);
