-- Large snapshot bodies arrive compressed by the store (lz4, see
-- `snapshot_body.rs`), with `body` left empty: a 3.8 MB body is written and
-- read as ~1 MB.
ALTER TABLE snapshots ADD COLUMN body_lz4 BLOB;
