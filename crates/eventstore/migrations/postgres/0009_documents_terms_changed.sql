-- What the last write of a document did to its terms, so that the writer
-- learns it from the upsert itself (RETURNING) instead of looking the old
-- row up: NULL when the write created the document, true when it replaced
-- different terms, false when the terms stayed. Looking the old row up was
-- the planner's choice of index, and without statistics PostgreSQL chose
-- `documents_by_start`, which scans every document of the shop's index for
-- each row written: quadratic for an index with one owner and many
-- documents (compliance's schedule, decision 0020).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS terms_changed boolean;
