-- depends: 0003_ingestion
-- The analysis worker claims pending interactions of every organization. Row-level security keeps
-- the application role inside one organization per transaction, so the claim is the one
-- cross-tenant step: a SECURITY DEFINER function (runs as the owner, who bypasses RLS) that returns
-- only what scoring needs, for at most p_limit rows, and locks them (FOR UPDATE SKIP LOCKED) in the
-- caller's transaction. The worker then writes the results per organization under RLS
-- (app.organization_id set for each group) in that same transaction: concurrent workers skip each
-- other's rows, and a worker that dies before COMMIT leaves its rows pending.
CREATE FUNCTION worker_claim_pending(p_limit INTEGER)
RETURNS TABLE (id UUID, ts TIMESTAMPTZ, organization_id UUID, customer_id UUID, channel VARCHAR, content TEXT)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT i.id, i.timestamp, i.organization_id, i.customer_id, i.channel, i.content
  FROM customer_interactions i
  WHERE i.processed_at IS NULL
  ORDER BY i.created_at
  LIMIT least(greatest(p_limit, 1), 1000)
  FOR UPDATE OF i SKIP LOCKED
$$;

REVOKE ALL ON FUNCTION worker_claim_pending(INTEGER) FROM PUBLIC;
