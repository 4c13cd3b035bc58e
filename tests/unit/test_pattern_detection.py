"""Behaviour pattern detection: properties over arbitrary histories (Hypothesis), then one hand-built
history per pattern type, each next to a near miss that must not be reported."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.patterns.detection import (
    LABELS,
    MIN_CONFIDENCE,
    DetectedPattern,
    HistoryItem,
    calculate_engagement_score,
    detect_patterns,
    regularity,
)

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # a Wednesday
CHANNELS = ("web", "mobile", "email", "chat", "phone")


def item(ago: timedelta, channel: str = "chat", label: str | None = None, *, event_type: str = "message",
         content: bool | None = None) -> HistoryItem:
    score = {"negative": -0.8, "neutral": 0.0, "positive": 0.8}.get(label or "")
    return HistoryItem(NOW - ago, channel, event_type, label, score, label is not None if content is None else content)


def types(patterns: list[DetectedPattern]) -> dict[str, DetectedPattern]:
    return {p.pattern_type: p for p in patterns}


# --- properties ------------------------------------------------------------------------------------

labelled = st.one_of(
    st.none().map(lambda _: (None, None)),
    st.sampled_from(LABELS).flatmap(lambda label: st.one_of(
        st.just((label, None)), st.floats(-1, 1).map(lambda score: (label, score))
    )),
)


def history_items(seconds_ago: st.SearchStrategy[int], sentiment: st.SearchStrategy[tuple[str | None, float | None]]
                  ) -> st.SearchStrategy[HistoryItem]:
    return st.builds(
        lambda seconds, channel, event_type, sentiment, content, zone: HistoryItem(
            (NOW - timedelta(seconds=seconds)).astimezone(zone), channel, event_type, sentiment[0], sentiment[1],
            content or sentiment[0] is not None),
        seconds_ago,
        st.sampled_from(CHANNELS),
        st.sampled_from(("page_view", "click", "message", "support_ticket")),
        sentiment,
        st.booleans(),
        st.sampled_from((UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"))),
    )


any_items = history_items(st.integers(-86_400, 45 * 86_400), labelled)  # some in the future, some too old
# Activity in the earlier half of the window, mostly negative, then little or nothing: churn and low engagement.
fading = st.tuples(
    st.lists(history_items(st.integers(16 * 86_400, 30 * 86_400 - 1),
                           st.sampled_from([("negative", -0.9)] * 3 + [("neutral", 0.0), (None, None)])),
             min_size=5, max_size=30),
    st.lists(any_items, max_size=2),
).map(lambda t: t[0] + t[1])
# Dense regular histories too, so that the rarer patterns (channel habits, timing) get exercised.
habits = st.builds(
    lambda days, hour, channel, label, jitter: [
        HistoryItem(NOW.replace(hour=hour) - timedelta(days=d, minutes=(d * jitter) % 90), channel, "message",
                    label, None, label is not None)
        for d in range(1, days)
    ],
    st.integers(5, 30), st.integers(0, 23), st.sampled_from(CHANNELS), st.sampled_from((*LABELS, None)),
    st.integers(0, 97),
)
histories = st.one_of(st.lists(any_items, max_size=60), habits, fading,
                      st.tuples(habits, st.lists(any_items, max_size=30)).map(lambda t: t[0] + t[1]))
zones = st.sampled_from((UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Pacific/Auckland")))


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(1, 60), zones)
def test_every_pattern_meets_the_confidence_threshold_without_duplicates(
    history: list[HistoryItem], lookback_days: int, zone: ZoneInfo
) -> None:
    patterns = detect_patterns(history, now=NOW, lookback_days=lookback_days, time_zone=zone)
    for p in patterns:
        assert MIN_CONFIDENCE <= p.confidence <= 1.0, p
        assert isinstance(p.frequency, int) and p.frequency > 0, p
        assert p.description and p.valid_until > NOW
        json.dumps({"metadata": p.metadata, "evidence": p.evidence}, allow_nan=False)
    assert len({p.pattern_type for p in patterns}) == len(patterns)
    assert [p.confidence for p in patterns] == sorted((p.confidence for p in patterns), reverse=True)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.lists(any_items, min_size=1, max_size=60), fading), zones)
def test_engagement_postconditions(history: list[HistoryItem], zone: ZoneInfo) -> None:
    window = [i for i in history if NOW - timedelta(days=30) < i.timestamp <= NOW]
    if not window:
        return
    before = copy.deepcopy(window)
    engagement = calculate_engagement_score(window, now=NOW, time_zone=zone)
    assert 0.0 <= engagement.score <= 1.0
    assert engagement.level in ("low", "medium", "high")
    assert engagement.interaction_count == len(window)
    assert engagement.trend in ("increasing", "decreasing", "stable")
    assert window == before
    assert calculate_engagement_score(list(reversed(window)), now=NOW, time_zone=zone) == engagement


@settings(max_examples=50, deadline=None)
@given(st.lists(any_items, max_size=4), st.lists(any_items, max_size=20))
def test_fewer_than_five_interactions_in_the_window_give_no_patterns(
    recent: list[HistoryItem], other: list[HistoryItem]
) -> None:
    in_window = [i for i in recent if NOW - timedelta(days=30) < i.timestamp <= NOW]
    outside = [i for i in other if not NOW - timedelta(days=30) < i.timestamp <= NOW]
    assert detect_patterns(in_window + outside, now=NOW) == []


@settings(max_examples=60, deadline=None)
@given(histories, st.randoms(use_true_random=False))
def test_detection_is_pure_and_ignores_input_order(history: list[HistoryItem], rnd: random.Random) -> None:
    before = list(history)
    first = detect_patterns(history, now=NOW)
    assert history == before
    assert detect_patterns(history, now=NOW) == first
    shuffled = list(history)
    rnd.shuffle(shuffled)
    assert detect_patterns(shuffled, now=NOW) == first
    assert detect_patterns(iter(history), now=NOW) == first  # any iterable, read once


# --- channel habits ---------------------------------------------------------------------------------


def test_a_daily_chat_user_is_a_frequent_chat_user() -> None:
    history = [item(timedelta(days=d, hours=2, minutes=d * 7 % 50)) for d in range(14)]
    found = types(detect_patterns(history, now=NOW))["frequent_chat_user"]
    assert found.confidence > 0.95
    assert found.frequency == 14
    assert found.metadata["channel"] == "chat"
    assert found.metadata["avg_interval_hours"] == pytest.approx(24, abs=1)
    assert found.description == "Used chat 14 times in the last 30 days, about every 1.0 days"


def test_clicks_within_one_web_session_count_as_one_visit() -> None:
    history = [item(timedelta(days=2 * d, hours=5, minutes=m), "web", event_type="click")
               for d in range(12) for m in range(0, 25, 5)]
    found = types(detect_patterns(history, now=NOW))["frequent_web_user"]
    assert (found.frequency, found.evidence["interactions"]) == (12, 60)
    assert "on 12 visits (60 interactions)" in found.description
    assert "about every 2.0 days" in found.description


def test_visits_at_random_times_are_not_a_habit() -> None:
    rnd = random.Random(3)
    ago, history = timedelta(hours=1), []
    while ago < timedelta(days=29):
        history.append(item(ago, "email"))
        ago += timedelta(hours=rnd.expovariate(1 / 30))
    assert len(history) >= 15
    assert "frequent_email_user" not in types(detect_patterns(history, now=NOW))


def test_a_habit_that_stopped_is_not_reported_as_regular() -> None:
    history = [item(timedelta(days=d, hours=2)) for d in range(15, 29)]
    assert "frequent_chat_user" not in types(detect_patterns(history, now=NOW))


def test_regularity() -> None:
    assert regularity([24.0] * 9) == 1.0
    assert regularity([1.0, 3.0]) == pytest.approx(0.8)  # mean 2, mean square 5
    with pytest.raises(ValueError, match="gaps"):
        regularity([])


# --- sentiment -------------------------------------------------------------------------------------


def test_mostly_negative_and_worsening_messages_are_a_negative_trend() -> None:
    labels = ["neutral", "negative", "neutral", "negative", "negative", "negative", "negative", "negative",
              "negative", "negative"]
    history = [item(timedelta(days=28 - 3 * n), "email", label) for n, label in enumerate(labels)]
    found = types(detect_patterns(history, now=NOW))["negative_sentiment_trend"]
    assert found.confidence == 0.8
    assert found.metadata["dominant"] == "negative"
    assert found.metadata["trend"] == "worsening"
    assert found.evidence["negative"] == 8 and found.evidence["neutral"] == 2
    assert found.description.startswith("8 of 10 scored messages in the last 30 days were negative")


def test_mixed_sentiment_is_no_trend() -> None:
    history = [item(timedelta(days=n), "email", LABELS[n % 3]) for n in range(12)]
    assert not [p for p in detect_patterns(history, now=NOW) if p.pattern_type.endswith("_sentiment_trend")]


def test_unscored_messages_do_not_count_towards_sentiment() -> None:
    history = [item(timedelta(days=n), "email", "positive" if n < 4 else None, content=True) for n in range(12)]
    assert "positive_sentiment_trend" not in types(detect_patterns(history, now=NOW))


def test_recent_consistent_negativity_is_a_detractor() -> None:
    history = [item(timedelta(days=d), "phone", "negative") for d in (1, 3, 6, 9)]
    history += [item(timedelta(days=26), "phone", "positive"), item(timedelta(days=12), "web", content=False)]
    found = types(detect_patterns(history, now=NOW))["detractor"]
    assert found.confidence > 0.9  # the positive message is almost four weeks old
    assert found.frequency == 4
    assert found.evidence["scored"] == 5


def test_negativity_that_is_weeks_old_is_no_detractor() -> None:
    history = [item(timedelta(days=d), "phone", "negative") for d in (16, 18, 20, 22, 25)]
    history.append(item(timedelta(days=1), "web", content=False))
    found = types(detect_patterns(history, now=NOW))
    assert "detractor" not in found
    assert "negative_sentiment_trend" in found


# --- timing ------------------------------------------------------------------------------------------


def test_weekday_mornings_are_a_temporal_pattern_in_the_customers_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    local_now = NOW.astimezone(paris)
    history = []
    for d in range(1, 29):
        day = local_now - timedelta(days=d)
        if day.isoweekday() <= 5:
            history.append(HistoryItem(day.replace(hour=9, minute=d % 50), "web", "page_view"))
    found = types(detect_patterns(history, now=NOW, time_zone=paris))["temporal_pattern"]
    assert found.metadata["time_zone"] == "Europe/Paris"
    assert found.metadata["hours"] == [8, 9, 10] and found.metadata["weekdays"] == [1, 2, 3, 4, 5]
    assert found.frequency == len(history) == 20
    assert found.description == ("20 of 20 visits in the last 30 days were on weekdays between 08:00 and 11:00 "
                                 "(Europe/Paris)")
    # The same instants read in UTC are at 08:00 (winter): the window moves with the time zone.
    in_utc = types(detect_patterns(history, now=NOW, time_zone=UTC))["temporal_pattern"]
    assert in_utc.metadata["hours"] == [7, 8, 9]


def test_visits_spread_over_the_week_are_no_temporal_pattern() -> None:
    history = [item(timedelta(hours=5 * n + 1), "web") for n in range(40)]  # every 5 hours, around the clock
    assert "temporal_pattern" not in types(detect_patterns(history, now=NOW))


def test_a_handful_of_visits_is_not_enough_for_a_temporal_pattern() -> None:
    history = [item(timedelta(days=d, hours=6), "chat") for d in range(7)]
    assert "temporal_pattern" not in types(detect_patterns(history, now=NOW))


# --- engagement and churn ------------------------------------------------------------------------------


def test_a_broad_daily_customer_has_high_engagement() -> None:
    history = [item(timedelta(days=d, hours=h), CHANNELS[(d + h) % 4], "positive" if h == 3 else None,
                    content=h == 3) for d in range(25) for h in (1, 3)]
    found = types(detect_patterns(history, now=NOW))["high_engagement"]
    assert found.confidence > 0.8
    assert found.metadata["level"] == "high" and found.metadata["trend"] == "stable"
    assert found.evidence["channels"] == 4 and found.evidence["active_days"] == 25


def test_one_busy_day_weeks_ago_is_low_engagement() -> None:
    history = [item(timedelta(days=25, minutes=10 * n), "web", content=False) for n in range(6)]
    engagement = calculate_engagement_score(history, now=NOW)
    assert engagement.level == "low" and engagement.active_days == 1
    found = types(detect_patterns(history, now=NOW))["low_engagement"]
    assert found.confidence == pytest.approx(1 - engagement.score, abs=1e-4)
    assert found.description == ("Low engagement (score 0.10): active on 1 day of the last 30 days, last seen "
                                 "25 days ago, 1 channel, 0% with a message")


def test_engagement_trend_compares_the_halves_of_the_period() -> None:
    rising = [item(timedelta(days=d, hours=1), "web") for d in (2, 4, 5, 7, 9, 11, 20)]
    assert calculate_engagement_score(rising, now=NOW).trend == "increasing"
    falling = [item(timedelta(days=d, hours=1), "web") for d in (3, 16, 18, 19, 21, 25)]
    assert calculate_engagement_score(falling, now=NOW).trend == "decreasing"
    even = [item(timedelta(days=d, hours=1), "web") for d in range(1, 29, 3)]
    assert calculate_engagement_score(even, now=NOW).trend == "stable"


def test_fading_activity_with_negative_messages_is_a_churn_risk() -> None:
    days = [29, 28, 26, 25, 24, 22, 21, 20, 19, 17, 12]
    labels = ["positive", "negative", "neutral", "negative", "negative", "negative", "negative", "negative",
              "neutral", "negative", "negative"]
    history = [item(timedelta(days=d, hours=3), "chat", label) for d, label in zip(days, labels, strict=True)]
    found = types(detect_patterns(history, now=NOW))["churn_risk"]
    assert found.evidence["earlier_visits"] == 10 and found.evidence["later_visits"] == 1
    assert found.frequency == 8
    assert found.confidence == pytest.approx(1 - 0.1 * 3 / 11, abs=1e-4)
    assert found.description == ("Visits fell from 10 in the first 15 days of the last 30 days to 1 in the last "
                                 "15 days, and 8 of 11 scored messages were negative")


def test_halved_activity_with_half_the_messages_negative_is_the_weakest_churn_risk() -> None:
    days = [29, 27, 25, 23, 21, 19, 14, 11, 7]
    labels = ["negative", "positive", "negative", "neutral", "negative", "positive", "negative", "neutral",
              "negative"]
    history = [item(timedelta(days=d, hours=3), "chat", label) for d, label in zip(days, labels, strict=True)]
    found = types(detect_patterns(history, now=NOW))["churn_risk"]
    assert (found.evidence["earlier_visits"], found.evidence["later_visits"]) == (6, 3)
    assert found.confidence == pytest.approx(1 - 0.5 * 4 / 9, abs=1e-4)
    # One negative message fewer and the messages are no longer mostly negative.
    history[-1] = item(timedelta(days=7, hours=3), "chat", "neutral")
    assert "churn_risk" not in types(detect_patterns(history, now=NOW))


def test_a_content_customer_who_fades_is_no_churn_risk() -> None:
    history = [item(timedelta(days=d, hours=3), "chat", "positive") for d in (29, 28, 26, 25, 24, 22, 21, 12)]
    found = types(detect_patterns(history, now=NOW))
    assert "churn_risk" not in found
    assert found["positive_sentiment_trend"].confidence == 1.0


def test_an_unhappy_customer_as_active_as_ever_is_no_churn_risk() -> None:
    history = [item(timedelta(days=d, hours=3), "chat", "negative") for d in range(1, 29, 2)]
    found = types(detect_patterns(history, now=NOW))
    assert "churn_risk" not in found and "detractor" in found


# --- hostile input ---------------------------------------------------------------------------------------


def test_bad_items_are_refused_naming_every_field() -> None:
    with pytest.raises(ValueError) as error:
        HistoryItem(datetime(2026, 1, 1), "", "", "angry", 3.0)  # naive on purpose
    for name in ("timestamp", "channel", "event_type", "sentiment_label", "sentiment_score"):
        assert name in str(error.value)
    with pytest.raises(ValueError, match="sentiment_score: given without"):
        HistoryItem(NOW, "web", "click", None, 0.5)
    with pytest.raises(ValueError, match="sentiment_score"):
        HistoryItem(NOW, "chat", "message", "positive", float("nan"))


def test_bad_parameters_are_refused() -> None:
    history = [item(timedelta(days=d)) for d in range(6)]
    with pytest.raises(ValueError, match="now"):
        detect_patterns(history, now=datetime(2026, 3, 4))
    with pytest.raises(ValueError, match="lookback_days"):
        detect_patterns(history, now=NOW, lookback_days=0)
    with pytest.raises(ValueError, match="history: must not be empty"):
        calculate_engagement_score([])
    with pytest.raises(ValueError, match="every interaction must lie in"):
        calculate_engagement_score([*history, item(timedelta(days=31))], now=NOW)
    with pytest.raises(ValueError, match="every interaction must lie in"):
        calculate_engagement_score(history, now=NOW - timedelta(days=1))


def test_without_now_engagement_ends_at_the_latest_interaction() -> None:
    history = [item(timedelta(days=d + 10)) for d in range(6)]
    engagement = calculate_engagement_score(history)
    assert engagement.days_since_last == 0 and engagement.recency == 1.0
