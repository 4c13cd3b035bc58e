-- depends: 0008_sessions_lockout
-- Sign-up in two steps (no account exists until its email is verified) and password reset by emailed link.
-- Both tokens are random, stored only as SHA-256, single use and short-lived.

-- A sign-up waiting for its email to be verified. Not tenant data: the organization does not exist yet.
-- The password is hashed when the sign-up arrives, so verification never sees it in the clear.
CREATE TABLE pending_registrations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash CHAR(64) NOT NULL UNIQUE,
  email VARCHAR(255) NOT NULL CHECK (email = lower(email)),
  password_hash VARCHAR(255) NOT NULL,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL,
  organization_name VARCHAR(255) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ
);
CREATE INDEX idx_pending_registrations_expires ON pending_registrations(expires_at);

CREATE TABLE password_reset_tokens (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash CHAR(64) NOT NULL UNIQUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ
);
CREATE INDEX idx_password_reset_tokens_user ON password_reset_tokens(user_id);

ALTER TABLE password_reset_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_reset_tokens USING (organization_id = app_organization_id());

-- The reset link arrives before the tenant is known: this finds its organization (and nothing else).
CREATE FUNCTION auth_password_reset_by_hash(p_hash TEXT)
RETURNS TABLE (id UUID, organization_id UUID, user_id UUID, expires_at TIMESTAMPTZ, used_at TIMESTAMPTZ)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT r.id, r.organization_id, r.user_id, r.expires_at, r.used_at FROM password_reset_tokens r
  WHERE r.token_hash = p_hash
$$;

REVOKE ALL ON FUNCTION auth_password_reset_by_hash(TEXT) FROM PUBLIC;
