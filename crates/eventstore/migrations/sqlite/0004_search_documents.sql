-- Searchable read-model documents (issue 15 item 4); see the PostgreSQL
-- migration of the same name. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS documents (
    index_name  TEXT    NOT NULL,
    shop_id     TEXT    NOT NULL,
    doc_id      TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER,
    version     INTEGER NOT NULL,
    terms       TEXT    NOT NULL,
    search_text TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    body_lz4    BLOB,
    PRIMARY KEY (index_name, shop_id, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_by_start
    ON documents (index_name, shop_id, starts_at DESC, doc_id DESC);
CREATE INDEX IF NOT EXISTS documents_by_end
    ON documents (index_name, shop_id, ends_at) WHERE ends_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS document_terms (
    index_name TEXT NOT NULL,
    shop_id    TEXT NOT NULL,
    term       TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    PRIMARY KEY (index_name, shop_id, term, doc_id)
);
