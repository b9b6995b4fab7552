-- No query reads events by shop: every reader goes by stream or by global
-- position, and tenancy (R-X-1) is enforced on streams named per shop. The
-- index cost every append an extra b-tree insert for nothing.
DROP INDEX IF EXISTS events_shop_position;
