-- Large snapshot bodies arrive compressed by the store (lz4, see
-- `snapshot_body.rs`), with `body` left empty. Writing a 3.8 MB JSON body took
-- PostgreSQL ~50 ms (compressing and toasting it); the same body compressed
-- by the client to ~1 MB takes a fraction of that. EXTERNAL: stored out of
-- line as it is, without trying to compress it again.
ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS body_lz4 bytea;
ALTER TABLE snapshots ALTER COLUMN body_lz4 SET STORAGE EXTERNAL;
