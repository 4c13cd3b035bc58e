-- depends: 0013_rollup_hourly_totals
-- The analysis worker's backlog, for its Prometheus gauges: how many rows are pending and since when the
-- oldest has waited. Both read only idx_interactions_pending (pending rows alone, by created_at): the
-- oldest is the first entry of each partition's index; the count stops at p_count_limit entries, so a
-- huge backlog costs a bounded scan (the gauge then reads the limit: "at least this many").
-- SECURITY DEFINER: the one other cross-tenant read of the worker (like worker_claim_pending), returning
-- two numbers and nothing of any organization's rows.
CREATE FUNCTION worker_backlog(p_count_limit INTEGER)
RETURNS TABLE (pending BIGINT, oldest_age_s DOUBLE PRECISION)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT
    (SELECT count(*) FROM (SELECT 1 FROM customer_interactions WHERE processed_at IS NULL
                           LIMIT greatest(p_count_limit, 1)) p),
    extract(epoch FROM now() - (SELECT min(created_at) FROM customer_interactions WHERE processed_at IS NULL))::float8
$$;

REVOKE ALL ON FUNCTION worker_backlog(INTEGER) FROM PUBLIC;
