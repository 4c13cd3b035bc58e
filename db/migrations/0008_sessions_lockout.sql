-- depends: 0007_worker_lease
-- Sign-in failures are counted per (email, source address) and per email, so that nobody can lock
-- someone else's account: a source that keeps failing locks only itself out of that account, and many
-- sources together only slow down sign-ins from sources the account has never signed in from.
-- Emails are stored hashed (known or not: the tables say nothing about which accounts exist). None of
-- this is tenant data: no organization is known before sign-in.
DROP TABLE login_attempts;

-- One source's failures for one email; reaching the threshold locks that pair.
CREATE TABLE login_failures (
  email_hash CHAR(64) NOT NULL,
  source VARCHAR(64) NOT NULL,
  failed_count INTEGER NOT NULL DEFAULT 0,
  window_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  locked_until TIMESTAMPTZ,
  PRIMARY KEY (email_hash, source)
);

-- Every source's failures for one email; past the threshold, unknown sources wait next_attempt_at.
CREATE TABLE login_throttle (
  email_hash CHAR(64) PRIMARY KEY,
  failed_count INTEGER NOT NULL DEFAULT 0,
  window_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  next_attempt_at TIMESTAMPTZ
);

-- Sources that signed in to an account successfully: the per-email delay does not apply to them.
CREATE TABLE login_known_sources (
  email_hash CHAR(64) NOT NULL,
  source VARCHAR(64) NOT NULL,
  last_success_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (email_hash, source)
);

-- The owner and state of a session (a refresh-token family), whatever organization the caller claims:
-- the authenticator compares the token's user and organization with these, and caches them per session.
CREATE FUNCTION auth_session_state(p_session UUID)
RETURNS TABLE (user_id UUID, organization_id UUID, token_version INTEGER, is_active BOOLEAN, revoked BOOLEAN)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT t.user_id, t.organization_id, u.token_version, u.is_active, bool_or(t.revoked_at IS NOT NULL)
  FROM refresh_tokens t JOIN users u ON u.id = t.user_id
  WHERE t.family_id = p_session
  GROUP BY t.user_id, t.organization_id, u.token_version, u.is_active
$$;

REVOKE ALL ON FUNCTION auth_session_state(UUID) FROM PUBLIC;
