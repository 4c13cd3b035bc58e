"""Helpers for the inference, analysis and worker tests: the model repository, a local Triton, orgs.

The model under test is ``model_repository/sentiment`` (the committed artefact), or the repository
named by ``TEST_MODEL_REPOSITORY``. Without a ``<version>/model.onnx`` there the model tests skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from insights.inference.repository import ModelFiles
from insights.infra.db import Database
from insights.infra.migrate import apply_migrations
from insights.settings import Settings
from tests.fixtures.databases import create_database, drop_database
from tests.ingest_support import Org, new_org
from tests.support import REPO_ROOT, Stack

MODEL_REPOSITORY = Path(os.environ.get("TEST_MODEL_REPOSITORY", REPO_ROOT / "model_repository"))
MODEL_FILES = ModelFiles.in_repository(MODEL_REPOSITORY)

requires_model = pytest.mark.skipif(
    MODEL_FILES.latest_version() is None, reason=f"no sentiment/<version>/model.onnx under {MODEL_REPOSITORY}"
)

#: Texts both backends must agree on: tweets, reviews, edge cases of normalization and Unicode.
AGREEMENT_TEXTS = [
    "I love this airline, the crew was amazing!",
    "@united worst flight ever, lost my bag and nobody cares",
    "Flight 123 departs at 5pm from gate B12.",
    "meh",
    "ok",
    "The battery life is fantastic but the screen scratches far too easily.",
    "Not bad at all. Not great either.",
    "Customer service hung up on me twice. Never again. #fail http://t.co/abc123",
    "Thanks @delta for the upgrade!!! 😍😍",
    "Das Essen war kalt und der Kellner unhöflich.",
    "この製品は素晴らしいです",
    "😡😡😡",
    "!!!???",
    "a",
    "The hotel room was clean, spacious and quiet; breakfast was average and the staff were friendly. "
    "Parking was expensive and the wifi dropped every few minutes, which made working impossible. " * 8,
    "x" * 1500,
    "Great product, terrible support. " * 60,
    "\u200b zero width and\ttabs\nand newlines  ",
    "I waited 45 minutes on hold and then the call dropped.",
    "Absolutely flawless experience from booking to landing.",
]


def two_version_repository(directory: Path, versions: tuple[str, str] = ("3", "4")) -> Path:
    """A model repository under ``directory`` that serves the committed model under two version names: each
    version folder's model.onnx links to the same weights (never a second copy of the file). Same weights,
    different version: what routing, promotion and the comparison need to tell versions apart by name."""
    source = MODEL_FILES.directory
    target = directory / source.name
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file():
            (target / item.name).symlink_to(item.resolve())
    weights = MODEL_FILES.onnx_path(MODEL_FILES.latest_version() or "")
    for version in versions:
        (target / version).mkdir()
        (target / version / "model.onnx").symlink_to(weights.resolve())
    return directory


def binomial_interval(n: int, p: float, confidence: float = 0.999) -> tuple[int, int]:
    """The central ``confidence`` interval of a Binomial(n, p) count, exactly (cumulative probabilities
    from the log-pmf): a realised count outside it has odds below 1 - confidence."""
    from math import exp, lgamma, log

    tail = (1 - confidence) / 2
    cumulative, low, high = 0.0, 0, n
    for k in range(n + 1):
        pmf = exp(lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * log(p) + (n - k) * log(1 - p))
        if cumulative < tail <= cumulative + pmf:
            low = k
        cumulative += pmf
        if cumulative >= 1 - tail:
            high = k
            break
    return low, high


def inference_settings(database_url: str, redis_url: str, **groups: dict[str, Any]) -> Settings:
    """Settings for in-process components (the same variables a server would read); ``groups`` override
    fields per subsystem, e.g. ``worker={"batch_size": 16}``."""
    inference = {"model_repository": MODEL_REPOSITORY, **groups.pop("inference", {})}
    return Settings(DATABASE_URL=database_url, REDIS_URL=redis_url, inference=inference, **groups)


@contextlib.contextmanager
def migrated_settings(redis_url: str, **groups: dict[str, Any]) -> Iterator[Settings]:
    """:func:`inference_settings` on a database of their own, migrated, dropped afterwards."""
    url = create_database()
    try:
        settings = inference_settings(url, redis_url, **groups)
        apply_migrations(settings)
        yield settings
    finally:
        drop_database(url)


@contextlib.asynccontextmanager
async def opened_database(settings: Settings) -> AsyncIterator[Database]:
    """The application's connection pool on ``settings``' database, closed afterwards."""
    database = Database(settings)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


ANALYST_PERMISSIONS = ["data:ingest", "analysis:run", "insights:read"]


def new_analyst_org(stack: Stack) -> Org:
    return new_org(stack, "Analysis", ANALYST_PERMISSIONS)


def analyze(http: httpx.Client, org: Org, text: str) -> httpx.Response:
    # Percent-encoded by hand: the transcoder reads "+" literally, not as a space.
    return http.get(f"/api/insights/sentiment?text={quote(text, safe='')}", headers=org.headers)


def assert_score_invariants(result: dict[str, Any]) -> None:
    """Scores in [0, 1], summing to 1 within 0.01, and confidence = the top score (docs/inference.md)."""
    scores = [float(result["scores"].get(k, 0.0)) for k in ("negative", "neutral", "positive")]
    assert all(0.0 <= s <= 1.0 for s in scores), result
    assert abs(sum(scores) - 1.0) < 0.01, result
    assert float(result["confidence"]) == pytest.approx(max(scores), abs=1e-9), result
    assert result["sentiment"] == ("negative", "neutral", "positive")[scores.index(max(scores))], result


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """``wait_until`` for async conditions: polls state, never sleeps as a substitute for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


_REVIEW_SENTENCES = [
    "I ordered the blender three weeks ago and it finally arrived yesterday.",
    "The packaging was damaged, but the jug itself was intact.",
    "Setting it up took five minutes and the instructions were clear.",
    "It crushes ice without any trouble and is quieter than my old one.",
    "After two uses the lid started to leak, which is really disappointing.",
    "Customer service replied within a day and sent a replacement lid.",
    "The motor smells hot when I make thick smoothies.",
    "For the price I expected better build quality.",
    "My kids love the milkshakes we make with it every weekend.",
    "The buttons are confusing and the pulse mode barely works.",
    "Cleaning is easy because the blade assembly comes apart.",
    "I would buy it again, it has made breakfast so much faster.",
    "Honestly it is the worst kitchen purchase I have made in years.",
    "It does the job, nothing more and nothing less.",
    "The courier left it in the rain and the box was soaked.",
    "Five stars for the design, two stars for the noise.",
]


def long_reviews(n: int, seed: int = 11) -> list[str]:
    """``n`` distinct product reviews of 300 to 1,000 characters (several sentence windows each), as
    customers write them; a run id keeps them new to the prediction cache."""
    import random
    import uuid

    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    reviews = []
    for i in range(n):
        target = rng.randint(300, 1000)
        text = f"Review {run}-{i}."
        while True:
            sentence = rng.choice(_REVIEW_SENTENCES)
            if len(text) + 1 + len(sentence) > min(target, 1000):
                break
            text = f"{text} {sentence}"
        reviews.append(text)
    return reviews
