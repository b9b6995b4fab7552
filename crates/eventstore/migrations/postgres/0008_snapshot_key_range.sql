-- Snapshots found by key prefix (ownership members, chat's timers, compliance
-- summaries) are read as the byte range [prefix, next): one index scan, not
-- a scan of every desk and shop snapshot. The primary key's index follows
-- the database's collation, which need not sort bytes, so the range has an
-- index of its own in "C" order.
CREATE INDEX IF NOT EXISTS snapshots_by_key_bytes ON snapshots (key COLLATE "C");
