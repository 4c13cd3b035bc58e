"""Routing texts to model versions: the rollout's rules, reading the table's rows, the hash and the fallback."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from insights.sentiment.rollout import DEFAULT_SCOPE, Rollout, RolloutAdmin, RolloutError, Rollouts, Router, fraction
from tests.inference_support import binomial_interval

ORG = uuid.UUID("11111111-2222-3333-4444-555555555555")


@pytest.mark.parametrize(("stable", "candidate", "share", "problem"), [
    ("v3", None, 0.0, "stable version"),
    ("3", "four", 0.5, "candidate version"),
    ("3", "3", 0.5, "both version 3"),
    ("3", "4", 1.5, "between 0 and 1"),
    ("3", "4", -0.1, "between 0 and 1"),
    ("3", None, 0.2, "needs a candidate"),
])
def test_an_impossible_rollout_is_refused_with_its_reason(
    stable: str, candidate: str | None, share: float, problem: str
) -> None:
    with pytest.raises(RolloutError, match=problem):
        Rollout(stable, candidate, share)


def test_rows_become_the_default_and_per_organization_rollouts_and_an_organizations_own_wins() -> None:
    other = uuid.uuid4()
    rollouts = Rollouts.from_rows([
        {"organization_id": None, "stable_version": "3", "candidate_version": "4", "candidate_share": 0.25},
        {"organization_id": str(ORG), "stable_version": "4", "candidate_version": None, "candidate_share": 0.0},
    ])
    assert rollouts.of(ORG) == Rollout("4")
    assert rollouts.of(other) == Rollout("3", "4", 0.25)
    assert Rollouts().of(ORG) is None


def test_the_scope_is_an_organization_id_or_the_default() -> None:
    assert RolloutAdmin.scope(DEFAULT_SCOPE) is None
    assert RolloutAdmin.scope(str(ORG)) == ORG
    with pytest.raises(RolloutError, match="organization id"):
        RolloutAdmin.scope("acme")


def test_the_hash_is_a_pure_function_of_the_whole_key() -> None:
    assert fraction(str(ORG), "a text") == fraction(str(ORG), "a text")
    assert 0.0 <= fraction(str(ORG), "a text") < 1.0
    # The parts are separated: ("ab", "c") and ("a", "bc") are different keys.
    assert fraction("ab", "c") != fraction("a", "bc")
    assert fraction(str(ORG), "a text") != fraction(str(uuid.uuid4()), "a text")


def test_the_candidates_share_of_keys_lies_within_the_binomial_bounds_and_grows_monotonically() -> None:
    keys = [(str(ORG), str(uuid.UUID(int=i))) for i in range(10_000)]
    low, high = binomial_interval(len(keys), 0.3)
    at_30 = {k for k in keys if Rollout("3", "4", 0.3).pick(*k) == "4"}
    assert low <= len(at_30) <= high
    # Raising the share only moves keys to the candidate: none of the 10 % is given back to stable.
    at_10 = {k for k in keys if Rollout("3", "4", 0.1).pick(*k) == "4"}
    assert at_10 < at_30
    assert {Rollout("3", "4", 0.0).pick(*k) for k in keys} == {"3"}
    assert {Rollout("3", "4", 1.0).pick(*k) for k in keys} == {"4"}


def _fallbacks(requested: str) -> float:
    return REGISTRY.get_sample_value("insights_sentiment_version_fallbacks_total", {"requested": requested}) or 0.0


def test_a_version_that_is_not_served_falls_back_to_stable_then_to_the_latest_and_is_counted() -> None:
    router = Router()
    everything = Rollout("3", "9", 1.0)  # every key to candidate 9
    key = (str(ORG), "text")
    before = _fallbacks("9")
    assert router.version(everything, key, ("3", "4")) == "3", "candidate missing: the stable version answers"
    assert router.version(Rollout("8", "9", 1.0), key, ("3", "4")) == "4", "both missing: the latest served"
    assert _fallbacks("9") == before + 2
    assert router.version(everything, key, ("3", "9")) == "9"
    assert router.version(everything, key, ()) == "9", "served versions unknown yet: the backend decides"
    assert router.version(None, key, ("3", "4")) is None, "no rollout: the backend's latest"
    assert _fallbacks("9") == before + 2
