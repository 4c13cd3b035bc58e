-- depends: 0006_batch_idempotency
-- The analysis worker claims pending interactions with a committed lease instead of holding row locks
-- across model inference: the claim is its own short transaction that sets claimed_until; scoring
-- happens outside any transaction; the write-back is a short transaction per organization that only
-- touches rows still pending at the version that was claimed. A worker that dies leaves its claims to
-- expire (claimed_until in the past), and another worker claims those rows again.
ALTER TABLE customer_interactions ADD COLUMN claimed_until TIMESTAMPTZ;

DROP FUNCTION worker_claim_pending(INTEGER);

-- The one cross-tenant step (SECURITY DEFINER: runs as the owner, who bypasses row-level security):
-- claims up to p_limit pending rows of any organization whose lease is free, for p_lease_s seconds, and
-- returns what scoring needs, oldest first (idx_interactions_pending holds only pending rows). It locks
-- interaction rows only, and skips locked ones: it never waits for anyone (docs/architecture.md, lock order).
CREATE FUNCTION worker_claim_pending(p_limit INTEGER, p_lease_s DOUBLE PRECISION)
RETURNS TABLE (id UUID, ts TIMESTAMPTZ, organization_id UUID, customer_id UUID, external_customer_id VARCHAR,
               channel VARCHAR, content TEXT, version INTEGER)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH picked AS (
    SELECT i.id, i.timestamp
    FROM customer_interactions i
    WHERE i.processed_at IS NULL AND (i.claimed_until IS NULL OR i.claimed_until < now())
    ORDER BY i.created_at
    LIMIT least(greatest(p_limit, 1), 1000)
    FOR UPDATE OF i SKIP LOCKED
  )
  UPDATE customer_interactions i
  SET claimed_until = now() + make_interval(secs => p_lease_s)
  FROM picked, customers c
  WHERE i.id = picked.id AND i.timestamp = picked.timestamp AND c.id = i.customer_id
  RETURNING i.id, i.timestamp, i.organization_id, i.customer_id, c.external_id, i.channel, i.content, i.version
$$;

REVOKE ALL ON FUNCTION worker_claim_pending(INTEGER, DOUBLE PRECISION) FROM PUBLIC;

-- Patterns carry the evidence behind them (counts, dates) apart from their parameters.
ALTER TABLE behavior_patterns ADD COLUMN evidence JSONB NOT NULL DEFAULT '{}';

-- A worker whose model call failed hands its claims back at once (instead of after the lease).
CREATE FUNCTION worker_release_claims(p_ids UUID[]) RETURNS INTEGER
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH released AS (
    UPDATE customer_interactions SET claimed_until = NULL
    WHERE id = ANY(p_ids) AND processed_at IS NULL
    RETURNING 1
  )
  SELECT count(*)::int FROM released
$$;

REVOKE ALL ON FUNCTION worker_release_claims(UUID[]) FROM PUBLIC;
