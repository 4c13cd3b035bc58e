-- depends: 0019_distinct_customers_index
-- Which sentiment model version scores an organization's texts: a stable version, optionally a candidate
-- that gets `candidate_share` of the traffic (docs/inference.md, "Versions and A/B tests"). One row per
-- organization that has its own rollout, and at most one platform default (organization_id NULL) for every
-- other organization. Written by `insights model ...` as the owner; servers and workers only read it (the
-- application role gets SELECT alone), a few rows, re-read every INFERENCE__ROLLOUT_TTL_S.
CREATE TABLE model_rollouts (
  organization_id UUID REFERENCES organizations (id) ON DELETE CASCADE,
  stable_version TEXT NOT NULL CHECK (stable_version ~ '^[0-9]+$'),
  candidate_version TEXT CHECK (candidate_version ~ '^[0-9]+$'),
  candidate_share DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (candidate_share >= 0 AND candidate_share <= 1),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT model_rollouts_one_per_scope UNIQUE NULLS NOT DISTINCT (organization_id),
  CONSTRAINT model_rollouts_candidate_differs CHECK (candidate_version IS DISTINCT FROM stable_version),
  CONSTRAINT model_rollouts_share_needs_candidate CHECK (candidate_version IS NOT NULL OR candidate_share = 0)
);
