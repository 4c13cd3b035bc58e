"""The synthetic data generator: exact volumes, determinism, real texts with consistent sentiment, the
behaviours it promises, and that pattern detection recognises them."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from insights.dev.synthetic import (
    MICRO,
    TEXT_CHANNELS,
    Behaviour,
    Corpus,
    SyntheticConfig,
    SyntheticCustomer,
    SyntheticInteraction,
    detect,
    generate,
    interactions,
)
from insights.patterns.detection import LABELS, SESSION_GAP, regularity

END = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.load()


@pytest.fixture(scope="module")
def mixed(corpus: Corpus) -> list[tuple[SyntheticCustomer, list[SyntheticInteraction]]]:
    """Every behaviour, two years, about 40 interactions per customer."""
    return list(generate(SyntheticConfig(customers=700, interactions=28_000, end=END, months=24, seed=5), corpus))


def only(behaviour: Behaviour, corpus: Corpus, per_customer: int = 300, customers: int = 40
         ) -> Iterator[tuple[SyntheticCustomer, list[SyntheticInteraction]]]:
    """Customers of one behaviour, dense enough for a 30-day window to show their habits."""
    config = SyntheticConfig(customers=customers, interactions=customers * per_customer, end=END, months=3, seed=11,
                             mix=((behaviour, 1.0),))
    return generate(config, corpus)


def test_volumes_are_exact_and_histories_well_formed(
    mixed: list[tuple[SyntheticCustomer, list[SyntheticInteraction]]]
) -> None:
    assert len(mixed) == 700
    assert sum(len(h) for _, h in mixed) == 28_000
    start = END - timedelta(days=730)
    for customer, history in mixed:
        assert len(history) == customer.interactions >= 1
        assert [i.timestamp for i in history] == sorted(i.timestamp for i in history)
        assert all(start <= i.timestamp <= END and i.customer == customer.index for i in history)
        for i in history:
            assert (i.content is not None) >= (i.channel in TEXT_CHANNELS)
            assert i.sentiment is None or i.content is not None
    assert Counter(c.behaviour for c, _ in mixed).keys() == set(Behaviour)
    assert len({c.external_id for c, _ in mixed}) == 700


def test_same_seed_same_data_other_seed_other_data(corpus: Corpus) -> None:
    config = SyntheticConfig(customers=60, interactions=2_000, end=END, months=6, seed=3)
    first = list(interactions(config, corpus))
    assert first == list(interactions(config, corpus))
    other = list(interactions(SyntheticConfig(customers=60, interactions=2_000, end=END, months=6, seed=4), corpus))
    assert len(other) == len(first) and other != first


def test_generation_streams(corpus: Corpus) -> None:
    """Ten million interactions are planned, but only the first batch is generated to read a few."""
    config = SyntheticConfig(customers=20_000, interactions=10_000_000, end=END, seed=1)
    head = list(itertools.islice(interactions(config, corpus), 1_000))
    assert len(head) == 1_000


def test_texts_are_real_and_their_sentiment_matches_the_corpus_label(
    corpus: Corpus, mixed: list[tuple[SyntheticCustomer, list[SyntheticInteraction]]]
) -> None:
    label_of = {text: LABELS[n] for n, texts in enumerate(corpus.texts) for text in texts}
    messages = [i for _, h in mixed for i in h if i.content is not None]
    scored = [i for i in messages if i.sentiment is not None]
    assert 0.01 < 1 - len(scored) / len(messages) < 0.04  # the default 2 % left pending
    for i in scored:
        assert i.sentiment is not None and i.content is not None
        assert i.sentiment.label == label_of[i.content]
        scores = (i.sentiment.negative, i.sentiment.neutral, i.sentiment.positive)
        assert sum(scores) == MICRO and min(scores) >= 0
        assert LABELS[scores.index(max(scores))] == i.sentiment.label


def test_activity_follows_the_working_week_in_the_customers_time_zone(
    mixed: list[tuple[SyntheticCustomer, list[SyntheticInteraction]]]
) -> None:
    local = [i.timestamp.astimezone(ZoneInfo(c.time_zone)) for c, h in mixed for i in h]
    weekday_share = sum(1 for t in local if t.isoweekday() <= 5) / len(local)
    working_share = sum(1 for t in local if 8 <= t.hour < 18) / len(local)
    assert weekday_share > 0.8  # 5/7 = 0.71 if spread evenly
    assert working_share > 0.6  # 10/24 = 0.42 if spread evenly
    kinds = Counter((i.channel, i.event_type) for _, h in mixed for i in h)
    assert {k for c, k in kinds if c == "web"} >= {"page_view", "click", "search", "purchase"}
    assert {k for c, k in kinds if c == "mobile"} >= {"app_open", "screen_view"}
    assert {k for c, k in kinds if c in TEXT_CHANNELS} == {"message", "support_ticket"}


def test_behaviours_differ_as_intended(mixed: list[tuple[SyntheticCustomer, list[SyntheticInteraction]]]) -> None:
    def label_share(behaviour: Behaviour, label: str) -> float:
        labels = [i.sentiment.label for c, h in mixed if c.behaviour == behaviour for i in h if i.sentiment]
        return labels.count(label) / len(labels)

    assert label_share(Behaviour.DETRACTOR, "negative") > 0.7
    assert label_share(Behaviour.LOYAL, "positive") > 0.5
    assert label_share(Behaviour.LOYAL, "negative") < 0.15

    def per_customer(behaviour: Behaviour) -> float:
        people = [c for c, _ in mixed if c.behaviour == behaviour]
        return sum(c.interactions for c in people) / len(people)

    assert per_customer(Behaviour.LOYAL) > 2 * per_customer(Behaviour.CASUAL)
    assert per_customer(Behaviour.ONE_OFF) <= 3

    def recent_over_usual(history: list[SyntheticInteraction]) -> float:
        """Interactions in the last 90 days over those of a usual 90 days before the last half-year."""
        cut = END - timedelta(days=180)
        usual = sum(1 for i in history if i.timestamp <= cut) / max(1, (cut - history[0].timestamp).days) * 90
        return sum(1 for i in history if i.timestamp > END - timedelta(days=90)) / max(usual, 1e-9)

    # Churners' activity fades towards the end of the period; loyal customers' does not.
    churners = [recent_over_usual(h) for c, h in mixed if c.behaviour == Behaviour.CHURNING and len(h) >= 20]
    assert _median(churners) < 0.5
    assert sum(1 for r in churners if r < 0.8) > 0.75 * len(churners)
    loyal = [recent_over_usual(h) for c, h in mixed if c.behaviour == Behaviour.LOYAL and len(h) >= 20]
    assert 0.8 < _median(loyal) < 1.25

    def visit_regularity(history: list[SyntheticInteraction]) -> float:
        """Regularity (as pattern detection defines it) of the gaps between the customer's visits."""
        gaps = [(b.timestamp - a.timestamp).total_seconds() for a, b in itertools.pairwise(history)]
        return regularity([g for g in gaps if g > SESSION_GAP.total_seconds()])

    bursty = [h for c, h in mixed if c.behaviour == Behaviour.BURSTY and len(h) >= 20]
    casual = [h for c, h in mixed if c.behaviour == Behaviour.CASUAL and len(h) >= 20]
    assert _median([visit_regularity(h) for h in bursty]) < 0.3  # bursts and long silences
    assert _median([visit_regularity(h) for h in casual]) > 0.45  # about random (0.5)

    def best_quarter_share(history: list[SyntheticInteraction]) -> float:
        months = Counter(i.timestamp.month for i in history)
        return max(sum(months[(m + k) % 12 + 1] for k in range(3)) for m in range(12)) / len(history)

    seasonal = [h for c, h in mixed if c.behaviour == Behaviour.SEASONAL and len(h) >= 20]
    assert _median([best_quarter_share(h) for h in seasonal]) > 0.6
    loyal_ones = [h for c, h in mixed if c.behaviour == Behaviour.LOYAL and len(h) >= 20]
    assert _median([best_quarter_share(h) for h in loyal_ones]) < 0.45  # 0.25 if spread evenly


def test_detection_recognises_each_behaviour(corpus: Corpus) -> None:
    def detected(behaviour: Behaviour) -> list[set[str]]:
        return [{p.pattern_type for p in detect(c, h, END)} for c, h in only(behaviour, corpus)]

    loyal = detected(Behaviour.LOYAL)
    assert _share(loyal, lambda t: any(p.startswith("frequent_") for p in t)) >= 0.7
    assert _share(loyal, lambda t: bool(t & {"detractor", "churn_risk", "negative_sentiment_trend"})) <= 0.1

    detractors = detected(Behaviour.DETRACTOR)
    assert _share(detractors, lambda t: "detractor" in t) >= 0.7
    assert _share(detractors, lambda t: "positive_sentiment_trend" in t) == 0

    # Churners leave between 45 days before the end and 15 days after it: those still active in the
    # first half of the window are the ones detection can catch leaving.
    window = [{p.pattern_type for p in detect(c, h, END)} for c, h in only(Behaviour.CHURNING, corpus)
              if sum(1 for i in h if END - timedelta(days=30) < i.timestamp <= END - timedelta(days=15)) >= 5]
    assert len(window) >= 15
    assert _share(window, lambda t: "churn_risk" in t) >= 0.6


def _share(found: list[set[str]], test: Callable[[set[str]], bool]) -> float:
    return sum(1 for types in found if test(types)) / len(found)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def test_bad_configurations_are_refused_naming_each_field() -> None:
    with pytest.raises(ValueError) as error:
        SyntheticConfig(customers=0, interactions=-1, end=datetime(2026, 1, 1), months=0, pending_share=2.0, mix=())
    for name in ("customers", "end", "months", "pending_share", "mix"):
        assert f"{name}:" in str(error.value)
    with pytest.raises(ValueError, match="interactions: must be at least 3 per customer"):
        SyntheticConfig(customers=10, interactions=20, end=END)
