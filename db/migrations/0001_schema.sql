-- Core schema: tenants, people, customers, interactions (partitioned by month), patterns.
-- Every tenant table carries organization_id; row-level security (0002) keys on it.

CREATE TABLE organizations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  retention_days INTEGER NOT NULL DEFAULT 730 CHECK (retention_days > 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) UNIQUE NOT NULL CHECK (email = lower(email)),
  password_hash VARCHAR(255) NOT NULL,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL,
  role VARCHAR(50) NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
  permissions JSONB NOT NULL DEFAULT '[]',
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  -- Bumped on password change: every access token carrying an older version is void.
  token_version INTEGER NOT NULL DEFAULT 0,
  is_active BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_login_at TIMESTAMPTZ
);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_organization ON users(organization_id);

-- Refresh tokens, stored hashed. A family is one sign-in session: rotation keeps the family,
-- reuse of a spent token revokes all of it.
CREATE TABLE refresh_tokens (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  family_id UUID NOT NULL,
  token_hash CHAR(64) NOT NULL UNIQUE,
  issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ,
  client_ip VARCHAR(64),
  user_agent VARCHAR(255)
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE api_keys (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name VARCHAR(255) NOT NULL,
  prefix VARCHAR(16) NOT NULL,
  key_hash CHAR(64) NOT NULL UNIQUE,
  permissions JSONB NOT NULL DEFAULT '[]',
  created_by UUID REFERENCES users(id) ON DELETE SET NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_api_keys_org ON api_keys(organization_id);

-- Failed sign-ins per email (hashed), known or not, so that lockout says nothing about
-- whether an account exists. Not tenant data: no organization is known before sign-in.
CREATE TABLE login_attempts (
  email_hash CHAR(64) PRIMARY KEY,
  failed_count INTEGER NOT NULL DEFAULT 0,
  window_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  locked_until TIMESTAMPTZ
);

-- Append-only: the application role may insert and read, never change or delete (0002),
-- and a trigger stops even the owner from rewriting history by accident.
CREATE TABLE audit_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id UUID,
  actor_type VARCHAR(20) NOT NULL,
  actor_id UUID,
  action VARCHAR(100) NOT NULL,
  resource_type VARCHAR(50),
  resource_id VARCHAR(255),
  client_ip VARCHAR(64),
  request_id VARCHAR(64),
  details JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_audit_log_org_time ON audit_log(organization_id, created_at DESC);
CREATE INDEX idx_audit_log_action ON audit_log(action);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

CREATE TABLE customers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  external_id VARCHAR(255) NOT NULL,
  email VARCHAR(255),
  first_name VARCHAR(100),
  last_name VARCHAR(100),
  segment VARCHAR(100),
  metadata JSONB NOT NULL DEFAULT '{}',
  first_seen_at TIMESTAMPTZ NOT NULL,
  last_seen_at TIMESTAMPTZ NOT NULL,
  interaction_count INTEGER NOT NULL DEFAULT 0 CHECK (interaction_count >= 0),
  average_sentiment DECIMAL(5,4) CHECK (average_sentiment BETWEEN -1 AND 1),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (organization_id, external_id)
);
CREATE INDEX idx_customers_org ON customers(organization_id);
CREATE INDEX idx_customers_external_id ON customers(organization_id, external_id);
CREATE INDEX idx_customers_email ON customers(email);
CREATE INDEX idx_customers_segment ON customers(segment);

-- Partitioned by month on timestamp: retention drops whole partitions.
-- The primary key must include the partition key.
CREATE TABLE customer_interactions (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  customer_id UUID NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  timestamp TIMESTAMPTZ NOT NULL,
  channel VARCHAR(50) NOT NULL CHECK (channel IN ('web', 'mobile', 'email', 'chat', 'phone')),
  event_type VARCHAR(100) NOT NULL,
  content TEXT,
  sentiment JSONB,
  sentiment_confidence DECIMAL(5,4) CHECK (sentiment_confidence BETWEEN 0 AND 1),
  metadata JSONB NOT NULL DEFAULT '{}',
  -- NULL means "analysis pending": the row is its own job, so stored and queued cannot disagree.
  processed_at TIMESTAMPTZ,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (id, timestamp)
) PARTITION BY RANGE (timestamp);

CREATE INDEX idx_interactions_customer ON customer_interactions(customer_id);
CREATE INDEX idx_interactions_org ON customer_interactions(organization_id);
CREATE INDEX idx_interactions_timestamp ON customer_interactions(timestamp DESC);
CREATE INDEX idx_interactions_org_timestamp ON customer_interactions(organization_id, timestamp DESC);
CREATE INDEX idx_interactions_channel ON customer_interactions(channel);
CREATE INDEX idx_interactions_sentiment ON customer_interactions((sentiment->>'label'));
CREATE INDEX idx_interactions_content_fts ON customer_interactions USING gin(to_tsvector('english', content));
CREATE INDEX idx_interactions_pending ON customer_interactions(created_at) WHERE processed_at IS NULL;

CREATE TABLE customer_interactions_default PARTITION OF customer_interactions DEFAULT;

-- Creates the monthly partitions covering [from_month, from_month + months).
CREATE FUNCTION ensure_interaction_partitions(from_month DATE, months INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  start_at DATE := date_trunc('month', from_month)::date;
  created INTEGER := 0;
  part_name TEXT;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    part_name := format('customer_interactions_%s', to_char(start_at + make_interval(months => i), 'YYYYMM'));
    IF to_regclass(part_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF customer_interactions FOR VALUES FROM (%L) TO (%L)',
        part_name, start_at + make_interval(months => i), start_at + make_interval(months => i + 1));
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END;
$$;

SELECT ensure_interaction_partitions((date_trunc('month', now()) - interval '24 months')::date, 28);

CREATE TABLE behavior_patterns (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id UUID NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  pattern_type VARCHAR(100) NOT NULL,
  confidence DECIMAL(5,4) NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  frequency INTEGER NOT NULL CHECK (frequency > 0),
  description TEXT,
  metadata JSONB NOT NULL DEFAULT '{}',
  detected_at TIMESTAMPTZ NOT NULL,
  valid_until TIMESTAMPTZ CHECK (valid_until IS NULL OR valid_until > detected_at),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_patterns_customer ON behavior_patterns(customer_id);
CREATE INDEX idx_patterns_org ON behavior_patterns(organization_id);
CREATE INDEX idx_patterns_type ON behavior_patterns(pattern_type);
CREATE INDEX idx_patterns_detected ON behavior_patterns(detected_at DESC);
