-- depends: 0002_row_level_security
-- Ingestion: idempotency keys, and monthly partitions that are safe to create ahead of need.

-- A retried event (same organization, same key) maps to the interaction stored the first time.
-- A separate table because customer_interactions is partitioned by timestamp and cannot have a
-- unique index without it. Written in the same transaction as the interaction itself.
CREATE TABLE ingest_idempotency (
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  idempotency_key VARCHAR(255) NOT NULL,
  interaction_id UUID NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, idempotency_key)
);
-- The window job deletes by created_at: BRIN, nearly free to maintain on an append-only column.
-- Deliberately no index on interaction_id: a random-UUID B-tree doubled the cost of every keyed
-- batch, and only erasure looks keys up by interaction (within one organization's key range).
CREATE INDEX idx_ingest_idempotency_created ON ingest_idempotency USING brin(created_at);

ALTER TABLE ingest_idempotency ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ingest_idempotency USING (organization_id = app_organization_id());

-- Interaction look-ups by id alone (UpdateInteraction, erasure) use the primary key (id, timestamp)
-- on every partition; nothing to add. Customer erasure uses idx_interactions_customer.

-- Same contract as in 0001, but a month whose rows already sit in the default partition is skipped
-- instead of failing (PostgreSQL refuses such a partition); retention deletes those rows by DELETE.
CREATE OR REPLACE FUNCTION ensure_interaction_partitions(from_month DATE, months INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  start_at DATE := date_trunc('month', from_month)::date;
  lower_bound DATE;
  upper_bound DATE;
  created INTEGER := 0;
  part_name TEXT;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    lower_bound := start_at + make_interval(months => i);
    upper_bound := start_at + make_interval(months => i + 1);
    part_name := format('customer_interactions_%s', to_char(lower_bound, 'YYYYMM'));
    CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
    CONTINUE WHEN EXISTS (SELECT 1 FROM customer_interactions_default
                          WHERE timestamp >= lower_bound AND timestamp < upper_bound);
    EXECUTE format('CREATE TABLE %I PARTITION OF customer_interactions FOR VALUES FROM (%L) TO (%L)',
                   part_name, lower_bound, upper_bound);
    created := created + 1;
  END LOOP;
  RETURN created;
END;
$$;
