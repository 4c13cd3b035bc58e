"""Model versions and A/B tests over real PostgreSQL, Redis, ONNX Runtime, Triton and a running platform.

The second version is the committed model under another name: a temporary repository whose ``3/`` and ``4/``
both link to the same model.onnx (tests/inference_support.py ``two_version_repository``). Same weights, so the
versions agree on every text; what these tests check is which version was asked for, answered and stored.

- the worker in process on a private database (rollouts read on every batch: ``rollout_ttl_s=0``): 1,000
  interactions at share 0.3 land within the binomial 99.9 % interval, each row on the version its hash picks;
  an organization's own rollout wins; a version that is not loaded falls back to the stable one;
- a local Triton serving both folders answers each version asked for;
- a platform (server with its worker, Envoy) on a private database, with the default rollout TTL: the
  ``insights model`` commands change the version of analyze answers and of newly stored scores without a
  restart (polled with ``wait_until``, never slept for), versions never share a cached answer, and
  ``insights model compare`` reports both versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from insights.dev.local_triton import LocalTriton
from insights.inference.embedded import EmbeddedBackend
from insights.inference.long_text import LongTextBackend
from insights.inference.repository import ModelFiles
from insights.inference.text import normalize_text
from insights.inference.triton import TritonBackend
from insights.infra.db import Database
from insights.infra.keys import RedisKeys
from insights.sentiment.rollout import Rollout, RolloutAdmin, RolloutStore
from insights.sentiment.worker import AnalysisWorker
from insights.settings import Settings
from tests.fixtures.databases import create_database, drop_database
from tests.inference_support import (
    analyze,
    binomial_interval,
    eventually,
    inference_settings,
    migrated_settings,
    new_analyst_org,
    opened_database,
    requires_model,
    two_version_repository,
)
from tests.ingest_support import Org, batch, event
from tests.support import REPO_ROOT, Stack, wait_until

pytestmark = requires_model


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_version_repository(tmp_path_factory.mktemp("two-versions"))


@pytest.fixture(scope="module")
def private_settings(redis_url: str, redis_key_prefix: str, repository: Path) -> Iterator[Settings]:
    with migrated_settings(redis_url, worker={"batch_size": 128}, redis={"key_prefix": redis_key_prefix},
                           inference={"model_repository": repository, "rollout_ttl_s": 0}) as settings:
        yield settings


@pytest.fixture(scope="module")
async def db(private_settings: Settings) -> AsyncIterator[Database]:
    async with opened_database(private_settings) as database:
        yield database


@pytest.fixture(scope="module")
async def backend(repository: Path) -> AsyncIterator[LongTextBackend]:
    embedded = LongTextBackend(EmbeddedBackend(ModelFiles.in_repository(repository)))
    await embedded.start()
    yield embedded
    await embedded.close()


@pytest.fixture
def owner(private_settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(private_settings.database_url, autocommit=True) as conn:
        yield conn


def seed(owner: psycopg.Connection[Any], n: int) -> tuple[UUID, list[UUID]]:
    """An organization with one customer and ``n`` pending interactions of distinct texts."""
    org = owner.execute("INSERT INTO organizations (name) VALUES ('Versions') RETURNING id").fetchone()
    customer = owner.execute(
        "INSERT INTO customers (organization_id, external_id, first_seen_at, last_seen_at)"
        " VALUES (%s, %s, now(), now()) RETURNING id", (org[0], f"c-{uuid.uuid4().hex[:6]}")).fetchone()
    rows = owner.execute(
        "INSERT INTO customer_interactions (customer_id, organization_id, timestamp, channel, event_type, content)"
        " SELECT %s, %s, now() - interval '1 minute', 'chat', 'message', 'message ' || i || ': delivery was late'"
        " FROM generate_series(1, %s) i RETURNING id", (customer[0], org[0], n)).fetchall()
    return org[0], [r[0] for r in rows]


def stored_versions(owner: psycopg.Connection[Any], ids: list[UUID]) -> dict[UUID, str | None]:
    return {r[0]: r[1] for r in owner.execute(
        "SELECT id, sentiment->>'version' FROM customer_interactions WHERE id = ANY(%s)", (ids,)).fetchall()}


async def drain(worker: AnalysisWorker) -> None:
    while (await worker.run_once()).claimed:
        pass


@pytest.fixture
def rollouts(private_settings: Settings) -> Iterator[RolloutAdmin]:
    """What ``insights model`` writes with: the owner's connection."""
    with psycopg.connect(private_settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        yield RolloutAdmin(conn)


async def test_the_candidates_share_of_scored_rows_is_within_the_binomial_bounds_and_every_row_names_its_version(
    private_settings: Settings, db: Database, backend: LongTextBackend, owner: psycopg.Connection[Any],
    rollouts: RolloutAdmin,
) -> None:
    org, ids = seed(owner, 1000)
    rollouts.put(org, Rollout("3", "4", 0.3))
    await drain(AnalysisWorker(private_settings.worker, db, backend, rollouts=RolloutStore(db, 0)))

    versions = stored_versions(owner, ids)
    assert set(versions.values()) == {"3", "4"}, "every stored score names a version that answered"
    candidate = sum(v == "4" for v in versions.values())
    low, high = binomial_interval(len(ids), 0.3)
    print(f"candidate share realised: {candidate}/{len(ids)} (99.9 % interval {low}-{high})")
    assert low <= candidate <= high
    # Deterministic: each row is on the version its (organization, interaction) hash picks.
    assert all(v == Rollout("3", "4", 0.3).pick(str(org), str(i)) for i, v in versions.items())


async def test_an_organizations_own_rollout_wins_over_the_default_and_a_version_not_loaded_falls_back(
    private_settings: Settings, db: Database, backend: LongTextBackend, owner: psycopg.Connection[Any],
    rollouts: RolloutAdmin,
) -> None:
    from prometheus_client import REGISTRY

    own, own_ids = seed(owner, 20)
    _, other_ids = seed(owner, 20)
    missing, missing_ids = seed(owner, 20)
    rollouts.put(None, Rollout("4"))
    rollouts.put(own, Rollout("3"))
    rollouts.put(missing, Rollout("3", "9", 1.0))  # version 9 is not in the repository
    before = REGISTRY.get_sample_value("insights_sentiment_version_fallbacks_total", {"requested": "9"}) or 0.0
    try:
        await drain(AnalysisWorker(private_settings.worker, db, backend, rollouts=RolloutStore(db, 0)))
    finally:
        owner.execute("DELETE FROM model_rollouts WHERE organization_id IS NULL")
    assert set(stored_versions(owner, own_ids).values()) == {"3"}
    assert set(stored_versions(owner, other_ids).values()) == {"4"}, "no rollout of its own: the default"
    assert set(stored_versions(owner, missing_ids).values()) == {"3"}, "a missing candidate: the stable answers"
    after = REGISTRY.get_sample_value("insights_sentiment_version_fallbacks_total", {"requested": "9"}) or 0.0
    assert after - before == len(missing_ids)


async def test_rollouts_that_cannot_be_read_never_fail_a_call(redis_url: str, repository: Path) -> None:
    from tests.support import free_port

    # A real fault: nothing listens on this port.
    settings = inference_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/insights", redis_url,
                                  inference={"model_repository": repository})
    unreachable = Database(settings)
    await unreachable.open(wait=False)
    store = RolloutStore(unreachable, ttl_s=0)
    try:
        assert await store.versions([uuid.uuid4()], ["a text"], ("3", "4")) == [None], "no rollout: the latest"
    finally:
        await store.close()
        await unreachable.close()


# --- Triton ----------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_triton_serves_both_version_folders_and_answers_the_version_asked_for(
    repository: Path, tmp_path: Path,
) -> None:
    triton = LocalTriton(repository, tmp_path / "triton", threads=1).start()
    client = TritonBackend(triton.url, ModelFiles.in_repository(repository))
    try:
        triton.wait_ready()
        await client.start()
        async def learned() -> bool:
            return client.versions == ("3", "4")

        # Triton is ready, so the metadata read that start() began answers with every served version.
        await eventually(learned, 30, "the client to learn the served versions")
        assert client.versions == ("3", "4")
        for asked, answered in (("3", "3"), ("4", "4"), (None, "4"), ("9", "4")):
            (p,) = await client.predict(["The crew was wonderful"], version=asked, timeout_s=30)
            assert p.model_version == answered, asked
        assert client.breaker.state == "closed", "a version Triton lacks is never asked for, so nothing failed"
    finally:
        await client.close()
        triton.stop()


# --- a running platform: the commands, without a restart ---------------------------------------------------


@pytest.fixture(scope="module")
def platform(redis_url: str, repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = create_database()  # its own: the platform's worker scores only this module's rows
    stack = Stack(url, redis_url, Path(tmp_path_factory.mktemp("versions-stack")), extra_env={
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(repository),
        "INSIGHTS_WORKER__ENABLED": "true",
        "INSIGHTS_PATTERNS__ENABLED": "false",
    })
    try:
        yield stack.start()
    finally:
        stack.stop()
        drop_database(url)


def model_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    env.update(DATABASE_URL=stack.database_url, INSIGHTS_INFERENCE__MODEL_REPOSITORY=stack.extra_env[
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY"])
    result = subprocess.run([sys.executable, "-m", "insights", "model", *args], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def answered_by(http: httpx.Client, org: Org, version: str) -> bool:
    """Whether a new text (never cached) is answered by the model at ``version``."""
    response = analyze(http, org, f"The support team solved it in minutes {uuid.uuid4().hex[:8]}")
    assert response.status_code == 200, response.text
    return bool(response.json()["model"] == "sentiment" and response.json()["modelVersion"] == version)


def stored_as(stack: Stack, http: httpx.Client, org: Org, version: str) -> bool:
    """Ingests one interaction; whether the platform's worker stores its score with ``version``."""
    content = f"Refund still missing after two weeks {uuid.uuid4().hex[:8]}"
    assert batch(http, org, [event(content=content)]).status_code == 200
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        def scored() -> bool:
            row = conn.execute("SELECT processed_at IS NOT NULL FROM customer_interactions WHERE content = %s",
                               (content,)).fetchone()
            return bool(row and row[0])

        wait_until(scored, 60, "the platform's worker to score the interaction")
        row = conn.execute("SELECT sentiment->>'version' FROM customer_interactions WHERE content = %s",
                           (content,)).fetchone()
    return bool(row and row[0] == version)


def test_rollout_promotion_and_rollback_reach_a_running_platform_without_a_restart(platform: Stack) -> None:
    org = new_analyst_org(platform)
    server_pid = platform.server.pid if platform.server else None
    with platform.client() as http:
        model_command(platform, "rollout", "--organization", org.id, "--stable", "3", "--candidate", "4",
                      "--share", "0")
        wait_until(lambda: answered_by(http, org, "3"), 30, "analysis on the stable version 3", poll_s=0.3)
        assert stored_as(platform, http, org, "3")

        model_command(platform, "rollout", "--organization", org.id, "--candidate", "4", "--share", "1")
        wait_until(lambda: answered_by(http, org, "4"), 30, "analysis on the candidate at share 1", poll_s=0.3)

        model_command(platform, "rollback", "--organization", org.id)
        wait_until(lambda: answered_by(http, org, "3"), 30, "analysis back on version 3", poll_s=0.3)

        model_command(platform, "rollout", "--organization", org.id, "--candidate", "4", "--share", "0")
        shown = model_command(platform, "promote", "--organization", org.id).stdout
        assert f"{org.id}: stable 4" in shown
        wait_until(lambda: answered_by(http, org, "4"), 30, "analysis on the promoted version 4", poll_s=0.3)
        wait_until(lambda: stored_as(platform, http, org, "4"), 60, "new scores stored by version 4", poll_s=0.3)
    assert platform.server is not None and platform.server.pid == server_pid and platform.server.poll() is None


def test_two_versions_never_share_a_cached_answer(platform: Stack, redis_url: str) -> None:
    org = new_analyst_org(platform)
    text = f"Checkout keeps failing on my phone {uuid.uuid4().hex[:8]}"
    cache = redis.Redis.from_url(redis_url, decode_responses=True)
    digest = RedisKeys.text_hash(normalize_text(text))
    with platform.client() as http:
        def answer(version: str) -> bool:
            response = analyze(http, org, text)
            assert response.status_code == 200, response.text
            return bool(response.json()["modelVersion"] == version and response.json()["source"] != "fallback")

        for version in ("3", "4"):
            model_command(platform, "rollout", "--organization", org.id, "--stable", version)
            wait_until(lambda v=version: answer(v), 30, f"the text answered by version {version}", poll_s=0.3)
    keys = list(cache.scan_iter(match=f"{platform.key_prefix}ml:{org.id}:*:{digest}", count=1000))
    model_keys = sorted(key.split(":")[-2] for key in keys)
    assert len(model_keys) == 2 and model_keys[0].startswith("sentiment-v3-") and model_keys[1].startswith(
        "sentiment-v4-"), model_keys


def test_compare_reports_stored_scores_and_the_evaluation_set_for_both_versions(
    platform: Stack, tmp_path: Path,
) -> None:
    org = new_analyst_org(platform)
    with platform.client() as http:
        model_command(platform, "rollout", "--organization", org.id, "--stable", "3", "--candidate", "4",
                      "--share", "0.5")

        def model_info_shows_the_rollout() -> bool:
            info = http.get("/api/insights/model", headers=org.headers).json()
            return bool(info["version"] == "3" and [(v["version"], v["role"], v["trafficShare"]) for v in info[
                "versions"]] == [("3", "production", 0.5), ("4", "candidate", 0.5)])

        wait_until(model_info_shows_the_rollout, 30, "the model info to show the rollout", poll_s=0.3)
        items = [event(content=f"Great app, love the update {i}") for i in range(40)]
        assert batch(http, org, items).status_code == 200
    with psycopg.connect(platform.database_url, autocommit=True) as conn:
        def all_scored() -> bool:
            row = conn.execute("SELECT count(*) FROM customer_interactions WHERE organization_id = %s"
                               " AND processed_at IS NULL", (org.id,)).fetchone()
            return bool(row and row[0] == 0)

        wait_until(all_scored, 60, "the platform's worker to score the batch")
        counts = dict(conn.execute(
            "SELECT sentiment->>'version', count(*) FROM customer_interactions WHERE organization_id = %s GROUP BY 1",
            (org.id,)).fetchall())

    report_path = tmp_path / "compare.json"
    markdown = model_command(platform, "compare", "--stable", "3", "--candidate", "4", "--organization", org.id,
                             "--eval-limit", "60", "--json", str(report_path)).stdout
    report = json.loads(report_path.read_text())
    assert {s["version"]: s["scored"] for s in report["stored"]} == {"3": counts.get("3", 0), "4": counts.get("4", 0)}
    assert report["evaluated_texts"] == 60
    assert report["agreement"] == 1.0, "same weights under two names agree on every text"
    by_version = {e["version"]: e for e in report["evaluated"]}
    for version in ("3", "4"):
        assert by_version[version]["answered_by"] == {version: 60}
        assert sum(by_version[version]["labels"].values()) == 60
        assert 0 < by_version[version]["latency_p50_ms"] <= by_version[version]["latency_p95_ms"]
        assert 0 <= by_version[version]["macro_f1"] <= 1
    assert by_version["3"]["accuracy"] == by_version["4"]["accuracy"]
    assert "| accuracy |" in markdown and "version 4 (candidate)" in markdown
