-- depends: 0001_schema
-- Tenant isolation that holds even when a query forgets its organization filter.
-- The server sets app.organization_id per transaction (SET LOCAL via set_config); without it
-- a tenant table shows nothing. The application role owns no table and is no superuser,
-- so these policies bind it (owners and superusers bypass RLS).

CREATE FUNCTION app_organization_id() RETURNS UUID LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('app.organization_id', true), '')::uuid
$$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations USING (id = app_organization_id());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users USING (organization_id = app_organization_id());

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens USING (organization_id = app_organization_id());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys USING (organization_id = app_organization_id());

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers USING (organization_id = app_organization_id());

ALTER TABLE customer_interactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_interactions USING (organization_id = app_organization_id());

ALTER TABLE behavior_patterns ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON behavior_patterns USING (organization_id = app_organization_id());

-- Audit: a tenant reads its own entries; anyone may append (failed sign-ins have no tenant).
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON audit_log FOR SELECT USING (organization_id = app_organization_id());
CREATE POLICY append ON audit_log FOR INSERT WITH CHECK (
  organization_id IS NULL OR organization_id = app_organization_id());

-- Look-ups that must happen before the tenant is known. SECURITY DEFINER runs them as the
-- owner (who bypasses RLS); each returns only what authentication needs, for one exact key.
CREATE FUNCTION auth_user_by_email(p_email TEXT)
RETURNS TABLE (id UUID, organization_id UUID, password_hash TEXT, is_active BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT u.id, u.organization_id, u.password_hash, u.is_active FROM users u WHERE u.email = lower(p_email)
$$;

CREATE FUNCTION auth_refresh_token_by_hash(p_hash TEXT)
RETURNS TABLE (id UUID, organization_id UUID, user_id UUID, family_id UUID, expires_at TIMESTAMPTZ,
               used_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT t.id, t.organization_id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at
  FROM refresh_tokens t WHERE t.token_hash = p_hash
$$;

CREATE FUNCTION auth_api_key_by_hash(p_hash TEXT)
RETURNS TABLE (id UUID, organization_id UUID, permissions JSONB, revoked_at TIMESTAMPTZ)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.organization_id, k.permissions, k.revoked_at FROM api_keys k WHERE k.key_hash = p_hash
$$;

CREATE FUNCTION auth_email_taken(p_email TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM users WHERE email = lower(p_email))
$$;

REVOKE ALL ON FUNCTION auth_user_by_email(TEXT), auth_refresh_token_by_hash(TEXT),
  auth_api_key_by_hash(TEXT), auth_email_taken(TEXT) FROM PUBLIC;
