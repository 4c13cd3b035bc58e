-- depends: 0009_registrations_resets
-- The read side: query columns on interactions, indexes for every query shape, rollups kept exact by
-- statement-level triggers, fuzzy customer look-up, the organization's time zone and pattern jobs.
-- docs/query.md explains each choice; tests/integration/test_query_plans.py checks the plans.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Buckets and default date ranges are read in this zone unless a request names another.
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- Query columns. segment: the customer's segment when the interaction happened (written by ingestion).
-- sentiment_label: negative | neutral | positive, 'pending' until the worker has been at it, 'none' for a
-- processed interaction without text. sentiment_score: positive - negative, exact in numeric so that
-- sums in the rollups equal sums over raw rows to the last digit.
ALTER TABLE customer_interactions
  ADD COLUMN segment VARCHAR(100),
  ADD COLUMN sentiment_label VARCHAR(10) NOT NULL GENERATED ALWAYS AS (
    CASE WHEN sentiment ? 'label' THEN sentiment->>'label'
         WHEN processed_at IS NULL THEN 'pending' ELSE 'none' END) STORED,
  ADD COLUMN sentiment_score NUMERIC(7, 6) GENERATED ALWAYS AS (
    ((sentiment->>'positive')::numeric - (sentiment->>'negative')::numeric)::numeric(7, 6)) STORED;

UPDATE customer_interactions i
SET segment = COALESCE(NULLIF(i.metadata->'_enriched'->>'segment', ''), c.segment)
FROM customers c WHERE c.id = i.customer_id;

-- Indexes: every tenant query starts with organization_id (row-level security adds it anyway).
-- (organization_id, timestamp, id) is the keyset order of lists and exports, read in either direction;
-- its INCLUDE columns let counts, edges of rollup ranges and unique-customer counts run as index-only
-- scans. It replaces the single-column indexes, which no tenant query could use better and which every
-- ingested row paid for.
DROP INDEX idx_interactions_org;
DROP INDEX idx_interactions_timestamp;
DROP INDEX idx_interactions_org_timestamp;
DROP INDEX idx_interactions_channel;
DROP INDEX idx_interactions_sentiment;
DROP INDEX idx_interactions_customer;
CREATE INDEX idx_interactions_org_time ON customer_interactions (organization_id, timestamp, id)
  INCLUDE (customer_id, channel, segment, event_type, sentiment_label, sentiment_score);
-- One customer's history (filters, pattern detection, erasure), newest or oldest first.
CREATE INDEX idx_interactions_customer_time ON customer_interactions (customer_id, timestamp, id);
-- Unique customers over long periods are estimated from the customers whose id ends in a byte below 16
-- (1 in 16, uniform for random UUIDs): this partial index holds just their rows (docs/query.md).
CREATE INDEX idx_interactions_customer_sample ON customer_interactions (organization_id, timestamp)
  INCLUDE (customer_id, channel, segment, event_type, sentiment_label)
  WHERE get_byte(uuid_send(customer_id), 15) < 16;
-- Sorting and filtering by score: only scored rows have one.
CREATE INDEX idx_interactions_org_score ON customer_interactions (organization_id, sentiment_score, timestamp, id)
  WHERE sentiment_score IS NOT NULL;

-- Customers: fuzzy look-up by external id, email or name (trigram word similarity; a GiST index answers
-- "the nearest first" without scoring every match, which a GIN index cannot), and keyset pages by last
-- activity. The unique (organization_id, external_id) index serves look-ups by external id.
CREATE FUNCTION customer_search_text(external_id TEXT, email TEXT, first_name TEXT, last_name TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT lower(coalesce(external_id, '') || ' ' || coalesce(email, '') || ' ' || coalesce(first_name, '') || ' '
               || coalesce(last_name, ''))
$$;
DROP INDEX idx_customers_org;
DROP INDEX idx_customers_external_id;
DROP INDEX idx_customers_email;
DROP INDEX idx_customers_segment;
CREATE INDEX idx_customers_search ON customers
  USING gist (customer_search_text(external_id, email, first_name, last_name) gist_trgm_ops);
CREATE INDEX idx_customers_last_seen ON customers (organization_id, last_seen_at, id);
CREATE INDEX idx_customers_org_email ON customers (organization_id, lower(email));

CREATE INDEX idx_patterns_org_type ON behavior_patterns (organization_id, pattern_type, valid_until);
DROP INDEX idx_patterns_org;
DROP INDEX idx_patterns_type;
DROP INDEX idx_patterns_customer;
CREATE INDEX idx_patterns_customer ON behavior_patterns (customer_id, valid_until);

-- Rollups. Two grains, both with the dimensions a filter or breakdown may name (channel, segment, event
-- type) and, as columns (not a dimension), the count and score sum of each sentiment label:
--   hourly: UTC hours; any bucket in any time zone is whole hours from here plus its partial-hour edges
--           from raw rows (index-only), which is exact for every zone and DST change;
--   daily:  calendar days in the organization's time zone: whole local days of a bucket come from here.
-- segment '' stands for "no segment".
CREATE TABLE interaction_rollup_hourly (
  organization_id UUID NOT NULL,
  hour TIMESTAMPTZ NOT NULL,
  channel VARCHAR(50) NOT NULL,
  segment VARCHAR(100) NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  negative BIGINT NOT NULL,
  neutral BIGINT NOT NULL,
  positive BIGINT NOT NULL,
  pending BIGINT NOT NULL,
  unscored BIGINT NOT NULL,
  negative_score NUMERIC NOT NULL,
  neutral_score NUMERIC NOT NULL,
  positive_score NUMERIC NOT NULL,
  PRIMARY KEY (organization_id, hour, channel, segment, event_type)
);
CREATE TABLE interaction_rollup_daily (
  organization_id UUID NOT NULL,
  day DATE NOT NULL,
  channel VARCHAR(50) NOT NULL,
  segment VARCHAR(100) NOT NULL,
  event_type VARCHAR(100) NOT NULL,
  negative BIGINT NOT NULL,
  neutral BIGINT NOT NULL,
  positive BIGINT NOT NULL,
  pending BIGINT NOT NULL,
  unscored BIGINT NOT NULL,
  negative_score NUMERIC NOT NULL,
  neutral_score NUMERIC NOT NULL,
  positive_score NUMERIC NOT NULL,
  PRIMARY KEY (organization_id, day, channel, segment, event_type)
);
ALTER TABLE interaction_rollup_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON interaction_rollup_hourly USING (organization_id = app_organization_id());
ALTER TABLE interaction_rollup_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON interaction_rollup_daily USING (organization_id = app_organization_id());

-- Applies signed changes to both rollups. ``changes`` is a query over interaction rows with a ``sign``
-- column (+1 added, -1 removed); the trigger branches below pass their transition tables, rebuilds and
-- partition drops pass the table itself. Keys are upserted in primary-key order, so that concurrent
-- transactions lock rollup rows in one order (no deadlocks among them); rollup rows are always the last
-- rows a writing transaction locks (after customers and interactions). With ``shrinking``, rows that
-- dropped to zero are deleted afterwards (one statement cannot see its own upsert's results).
CREATE FUNCTION rollup_statements(changes TEXT, shrinking BOOLEAN) RETURNS TEXT[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  grain RECORD;
  statements TEXT[] := '{}';
BEGIN
  FOR grain IN SELECT * FROM (VALUES
      ('interaction_rollup_hourly', 'hour', $g$date_trunc('hour', c.timestamp, 'UTC')$g$),
      ('interaction_rollup_daily', 'day', $g$(c.timestamp AT TIME ZONE o.time_zone)::date$g$)) AS g(tbl, col, expr)
  LOOP
    statements := statements || format($q$
      INSERT INTO %1$I AS r (organization_id, %2$I, channel, segment, event_type, negative, neutral, positive,
                             pending, unscored, negative_score, neutral_score, positive_score)
      SELECT * FROM (
        SELECT c.organization_id, %3$s AS k, c.channel, coalesce(c.segment, '') AS segment, c.event_type,
               sum(c.sign * (c.sentiment_label = 'negative')::int) AS negative,
               sum(c.sign * (c.sentiment_label = 'neutral')::int) AS neutral,
               sum(c.sign * (c.sentiment_label = 'positive')::int) AS positive,
               sum(c.sign * (c.sentiment_label = 'pending')::int) AS pending,
               sum(c.sign * (c.sentiment_label NOT IN ('negative', 'neutral', 'positive', 'pending'))::int) AS unscored,
               sum(c.sign * CASE WHEN c.sentiment_label = 'negative' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS negative_score,
               sum(c.sign * CASE WHEN c.sentiment_label = 'neutral' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS neutral_score,
               sum(c.sign * CASE WHEN c.sentiment_label = 'positive' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS positive_score
        FROM (%4$s) c JOIN organizations o ON o.id = c.organization_id
        GROUP BY 1, 2, 3, 4, 5
      ) d
      WHERE d.negative <> 0 OR d.neutral <> 0 OR d.positive <> 0 OR d.pending <> 0 OR d.unscored <> 0
         OR d.negative_score <> 0 OR d.neutral_score <> 0 OR d.positive_score <> 0
      ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (organization_id, %2$I, channel, segment, event_type) DO UPDATE SET
        negative = r.negative + EXCLUDED.negative, neutral = r.neutral + EXCLUDED.neutral,
        positive = r.positive + EXCLUDED.positive, pending = r.pending + EXCLUDED.pending,
        unscored = r.unscored + EXCLUDED.unscored, negative_score = r.negative_score + EXCLUDED.negative_score,
        neutral_score = r.neutral_score + EXCLUDED.neutral_score,
        positive_score = r.positive_score + EXCLUDED.positive_score
    $q$, grain.tbl, grain.col, grain.expr, changes);
    IF shrinking THEN
      statements := statements || format($q$
        DELETE FROM %1$I r
        USING (SELECT DISTINCT c.organization_id, %3$s AS k, c.channel, coalesce(c.segment, '') AS segment,
                               c.event_type
               FROM (%4$s) c JOIN organizations o ON o.id = c.organization_id WHERE c.sign < 0) d
        WHERE r.organization_id = d.organization_id AND r.%2$I = d.k AND r.channel = d.channel
          AND r.segment = d.segment AND r.event_type = d.event_type
          AND r.negative = 0 AND r.neutral = 0 AND r.positive = 0 AND r.pending = 0 AND r.unscored = 0
      $q$, grain.tbl, grain.col, grain.expr, changes);
    END IF;
  END LOOP;
  RETURN statements;
END;
$$;

-- Transition tables are visible only to statements the trigger function itself runs, hence statements
-- built above and executed where the rows are: here for tables and queries, in the trigger below.
CREATE FUNCTION rollup_sync(changes TEXT, shrinking BOOLEAN) RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  statement TEXT;
BEGIN
  FOREACH statement IN ARRAY rollup_statements(changes, shrinking) LOOP
    EXECUTE statement;
  END LOOP;
END;
$$;

-- The one writer of the rollups (SECURITY DEFINER: the application role may only read them).
CREATE FUNCTION rollup_after_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  statements TEXT[];
  statement TEXT;
BEGIN
  IF TG_OP = 'INSERT' THEN
    statements := rollup_statements('SELECT n.*, 1 AS sign FROM new_rows n', false);
  ELSIF TG_OP = 'DELETE' THEN
    statements := rollup_statements('SELECT o.*, -1 AS sign FROM old_rows o', true);
  ELSE
    -- Unchanged rows cancel out: a worker's claim (claimed_until only) writes nothing here.
    statements := rollup_statements(
      'SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 AS sign FROM old_rows o', true);
  END IF;
  FOREACH statement IN ARRAY statements LOOP
    EXECUTE statement;
  END LOOP;
  RETURN NULL;
END;
$$;

CREATE TRIGGER rollup_after_insert AFTER INSERT ON customer_interactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_after_change();
CREATE TRIGGER rollup_after_update AFTER UPDATE ON customer_interactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_after_change();
CREATE TRIGGER rollup_after_delete AFTER DELETE ON customer_interactions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_after_change();

-- Rebuilds one organization's rollups from its raw rows (a changed time zone, a bulk load with the
-- triggers off, a repair). Exact: a SHARE lock on the interactions keeps writers out meanwhile.
CREATE FUNCTION rollup_rebuild(p_organization_id UUID) RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  LOCK TABLE customer_interactions IN SHARE MODE;
  DELETE FROM interaction_rollup_hourly WHERE organization_id = p_organization_id;
  DELETE FROM interaction_rollup_daily WHERE organization_id = p_organization_id;
  PERFORM rollup_sync(format('SELECT i.*, 1 AS sign FROM customer_interactions i WHERE i.organization_id = %L',
                             p_organization_id), false);
END;
$$;

-- Dropping a partition fires no trigger: retention subtracts the partition's rows first, under a lock
-- that keeps writers out of it until the DROP commits (same transaction).
CREATE FUNCTION rollup_forget_partition(p_partition REGCLASS) RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_partition);
  PERFORM rollup_sync(format('SELECT p.*, -1 AS sign FROM %s p', p_partition), true);
END;
$$;

-- The daily rollup is in the organization's zone: a new zone re-buckets it.
CREATE FUNCTION organizations_time_zone_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM now() AT TIME ZONE NEW.time_zone;  -- an unknown zone fails here, before anything changes
  PERFORM rollup_rebuild(NEW.id);
  RETURN NULL;
END;
$$;
CREATE TRIGGER organizations_time_zone AFTER UPDATE OF time_zone ON organizations
  FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
  EXECUTE FUNCTION organizations_time_zone_changed();

-- Rollups of the rows already stored.
SELECT rollup_sync('SELECT i.*, 1 AS sign FROM customer_interactions i', false);

-- Pattern detection is debounced per customer: one due row per customer, pushed back while their
-- interactions keep being scored (a burst costs one detection), at most max-delay after the first.
CREATE TABLE pattern_jobs (
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  customer_id UUID NOT NULL,
  queued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  due_at TIMESTAMPTZ NOT NULL,
  claimed_until TIMESTAMPTZ,
  PRIMARY KEY (organization_id, customer_id)
);
CREATE INDEX idx_pattern_jobs_due ON pattern_jobs (due_at);
ALTER TABLE pattern_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pattern_jobs USING (organization_id = app_organization_id());

-- The cross-tenant claim of due jobs (SECURITY DEFINER, like worker_claim_pending): leases them and
-- returns each with the due_at it was claimed at (completion deletes the job only if it is unchanged).
CREATE FUNCTION pattern_jobs_claim(p_limit INTEGER, p_lease_s DOUBLE PRECISION)
RETURNS TABLE (organization_id UUID, customer_id UUID, due_at TIMESTAMPTZ)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH picked AS (
    SELECT j.organization_id, j.customer_id
    FROM pattern_jobs j
    WHERE j.due_at <= now() AND (j.claimed_until IS NULL OR j.claimed_until < now())
    ORDER BY j.due_at
    LIMIT least(greatest(p_limit, 1), 1000)
    FOR UPDATE SKIP LOCKED
  )
  UPDATE pattern_jobs j SET claimed_until = now() + make_interval(secs => p_lease_s)
  FROM picked WHERE j.organization_id = picked.organization_id AND j.customer_id = picked.customer_id
  RETURNING j.organization_id, j.customer_id, j.due_at
$$;
REVOKE ALL ON FUNCTION pattern_jobs_claim(INTEGER, DOUBLE PRECISION) FROM PUBLIC;
