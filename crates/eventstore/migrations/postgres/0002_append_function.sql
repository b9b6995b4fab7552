-- A group of appends in one round trip (see docs/event-store.md, "Appending").
--
-- Called as a single statement outside any explicit transaction, so the call
-- is its transaction: the advisory lock is held until its commit, which keeps
-- positions committed in order (gap safety). Each statement of a VOLATILE
-- function takes a fresh snapshot, so the versions and the head read after
-- the lock include every append committed before it was granted.
--
-- Per append (a_*): stream, expected version (-1 any, 0 no stream, v exact).
-- Per event (e_*): the 1-based append it belongs to, its 0-based place in
-- that append, and its columns.
-- Returns, per append in order: the stream's version it was checked against
-- and its first global position, NULL when the expectation failed (nothing of
-- that append is written; the others are).
CREATE OR REPLACE FUNCTION sellerdesk_append_group(
    lock_key       BIGINT,
    a_streams      TEXT[],
    a_expected     BIGINT[],
    a_counts       INTEGER[],
    e_append       INTEGER[],
    e_offsets      INTEGER[],
    e_ids          UUID[],
    e_types        TEXT[],
    e_schemas      INTEGER[],
    e_shops        TEXT[],
    e_occurred     TIMESTAMPTZ[],
    e_correlations UUID[],
    e_causations   UUID[],
    e_actors       TEXT[],
    e_traces       TEXT[],
    e_payloads     TEXT[]
) RETURNS TABLE (append_index INTEGER, actual_version BIGINT, first_position BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    appends   INTEGER := COALESCE(array_length(a_streams, 1), 0);
    streams   TEXT[];
    versions  BIGINT[];
    a_first   BIGINT[] := array_fill(NULL::BIGINT, ARRAY[appends]);
    a_base    BIGINT[] := array_fill(NULL::BIGINT, ARRAY[appends]);
    head      BIGINT;
    at        INTEGER;
    v         BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- One index probe per distinct stream (MAX over an index, not GROUP BY).
    SELECT array_agg(s), array_agg(COALESCE(
               (SELECT MAX(e.stream_version) FROM events e WHERE e.stream_id = s), 0))
      INTO streams, versions
      FROM (SELECT DISTINCT unnest(a_streams) AS s) q;
    SELECT COALESCE(MAX(global_position), 0) INTO head FROM events;
    FOR i IN 1 .. appends LOOP
        at := array_position(streams, a_streams[i]);
        v := versions[at];
        append_index := i;
        actual_version := v;
        IF a_expected[i] = -1 OR a_expected[i] = v THEN
            a_first[i] := head + 1;
            a_base[i] := v;
            first_position := head + 1;
            head := head + a_counts[i];
            versions[at] := v + a_counts[i];
        ELSE
            first_position := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;
    INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type,
        schema_version, shop_id, occurred_at, recorded_at, correlation_id, causation_id,
        actor, traceparent, payload)
    SELECT a_first[x.ap] + x.k, a_streams[x.ap], a_base[x.ap] + 1 + x.k,
           x.id, x.t, x.s, x.shop, x.o, now(), x.c, x.ca, x.a, x.tp, x.pl::json
      FROM unnest(e_append, e_offsets, e_ids, e_types, e_schemas, e_shops, e_occurred,
                  e_correlations, e_causations, e_actors, e_traces, e_payloads)
               AS x(ap, k, id, t, s, shop, o, c, ca, a, tp, pl)
     WHERE a_first[x.ap] IS NOT NULL;
END
$$;
