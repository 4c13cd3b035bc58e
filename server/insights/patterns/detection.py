"""Behaviour patterns of one customer, computed from their interaction history.

Pure and deterministic: every function here depends only on its arguments (``now`` is one of them),
reads no clock, does no I/O and never mutates its inputs; the same history in any order gives the
same patterns. docs/patterns.md explains each measure for analysts; the docstrings below say how it
is computed.

Two ideas recur:

- A *visit* is a run of interactions with no gap longer than :data:`SESSION_GAP` (30 minutes, the
  usual web-analytics session timeout). Rhythm and timing are measured on visits, not on raw
  events, so that ten clicks in one web session count as one visit rather than as ten.
- The *window* is ``(now - lookback_days, now]``; interactions outside it are ignored.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Literal, TypeAlias

#: What json.dumps takes (read-only containers, so that list[int] and dict[str, int] qualify).
JsonValue: TypeAlias = "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
Level = Literal["low", "medium", "high"]
Trend = Literal["increasing", "decreasing", "stable"]
Direction = Literal["improving", "worsening", "stable"]

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
#: Score of a message that carries a label but no score: the label's end of the -1..1 scale.
_LABEL_VALUES = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}

DEFAULT_LOOKBACK_DAYS = 30
#: Fewer interactions than this in the window: too little to call anything a pattern.
MIN_INTERACTIONS = 5
#: Patterns below this confidence are not reported.
MIN_CONFIDENCE = 0.7
SESSION_GAP = timedelta(minutes=30)
DEFAULT_VALID_FOR = timedelta(days=7)

#: A channel habit needs this many separate visits on the channel in the window.
MIN_CHANNEL_VISITS = 10
#: A sentiment trend needs this many scored messages in the window.
MIN_SCORED = 5
#: A change of the average score (-1..1) between the earlier and the later half of the scored
#: messages that counts as improving or worsening.
DIRECTION_CHANGE = 0.2
#: A timing habit needs this many visits: with fewer, chance alone often packs them into some window.
MIN_TEMPORAL_VISITS = 8
#: The hour blocks that timing habits are looked for in (consecutive local hours, wrapping midnight).
HOUR_BLOCK_WIDTHS = (3, 6, 9)
DAY_SETS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("any day", (1, 2, 3, 4, 5, 6, 7)),
    ("weekdays", (1, 2, 3, 4, 5)),
    ("weekends", (6, 7)),
)

#: Engagement: weights of frequency, recency, channel breadth and content share (they sum to 1).
ENGAGEMENT_WEIGHTS = (0.4, 0.3, 0.15, 0.15)
#: Being active on this share of the period's days or more counts as full frequency.
FULL_FREQUENCY_DAY_SHARE = 0.5
#: Recency halves with every week since the last interaction.
RECENCY_HALF_LIFE_DAYS = 7.0
#: Using this many channels or more counts as full breadth.
FULL_BREADTH_CHANNELS = 3
HIGH_ENGAGEMENT = 0.7
MEDIUM_ENGAGEMENT = 0.4
#: At most this engagement score is reported as low engagement.
LOW_ENGAGEMENT = 0.3
#: Visits in the later half of the period at least twice (or at most half) those of the earlier half.
TREND_CHANGE = 1 / 3
#: Fewer visits than this in the period: no trend can be told apart from chance.
MIN_TREND_VISITS = 4

#: Churn risk and detractor need this many scored messages in the window.
MIN_SCORED_SENTIMENT_RISK = 3
#: Churn risk: visits in the later half of the window at most half of those in the earlier half...
CHURN_MIN_DROP = 0.5
#: ... and at least half of the scored messages negative.
CHURN_MIN_NEGATIVE_SHARE = 0.5
#: A detractor's latest scored message is at most this old.
DETRACTOR_RECENT_DAYS = 14.0
#: In the detractor measure a message's weight halves with every week of age.
DETRACTOR_HALF_LIFE_DAYS = 7.0


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One interaction as pattern detection sees it.

    ``sentiment_label`` is None while the message is not scored (or has no text);
    ``sentiment_score`` is positive minus negative probability (-1..1) when known.
    """

    timestamp: datetime
    channel: str
    event_type: str
    sentiment_label: str | None = None
    sentiment_score: float | None = None
    has_content: bool = False

    def __post_init__(self) -> None:
        errors = []
        if self.timestamp.utcoffset() is None:
            errors.append("timestamp: must carry a time zone")
        if not self.channel:
            errors.append("channel: must not be empty")
        if not self.event_type:
            errors.append("event_type: must not be empty")
        if self.sentiment_label is not None and self.sentiment_label not in LABELS:
            errors.append(f"sentiment_label: must be one of {', '.join(LABELS)} or None")
        if self.sentiment_score is not None:
            if self.sentiment_label is None:
                errors.append("sentiment_score: given without a sentiment_label")
            if not -1.0 <= self.sentiment_score <= 1.0:  # also False for NaN
                errors.append("sentiment_score: must be a number between -1 and 1")
        if errors:
            raise ValueError("; ".join(errors))

    @property
    def sentiment_value(self) -> float | None:
        """The score, or the label's value (-1, 0, 1) when only the label is known."""
        if self.sentiment_label is None:
            return None
        return self.sentiment_score if self.sentiment_score is not None else _LABEL_VALUES[self.sentiment_label]


@dataclass(frozen=True)
class DetectedPattern:
    pattern_type: str
    #: MIN_CONFIDENCE .. 1, four decimals (what the database stores).
    confidence: float
    #: How many times the behaviour occurred in the window (visits, messages, interactions); > 0.
    frequency: int
    #: A sentence for a person.
    description: str
    #: The pattern's parameters (channel, trend direction, hours, ...).
    metadata: dict[str, JsonValue]
    #: The facts behind it: counts, dates (ISO 8601, UTC) and averages.
    evidence: dict[str, JsonValue]
    valid_until: datetime


@dataclass(frozen=True)
class Engagement:
    """How engaged a customer is over a period; ``score`` is the weighted sum of the four factors."""

    score: float
    level: Level
    interaction_count: int
    trend: Trend
    frequency: float
    recency: float
    breadth: float
    content_share: float
    active_days: int
    channels: int
    days_since_last: float
    earlier_visits: int
    later_visits: int


# --- entry points ------------------------------------------------------------------------------


def detect_patterns(
    history: Iterable[HistoryItem],
    *,
    now: datetime,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    time_zone: tzinfo = UTC,
    valid_for: timedelta = DEFAULT_VALID_FOR,
) -> list[DetectedPattern]:
    """The customer's patterns in the window ``(now - lookback_days, now]``, highest confidence first.

    Only patterns with confidence >= MIN_CONFIDENCE are returned, at most one per pattern type, and none
    at all with fewer than MIN_INTERACTIONS interactions in the window. ``time_zone`` is the one that
    weekdays, hours and days are read in (the customer's or the organization's).
    """
    _check_now(now)
    if lookback_days <= 0:
        raise ValueError("lookback_days: must be positive")
    if valid_for <= timedelta(0):
        raise ValueError("valid_for: must be positive")
    start = now - timedelta(days=lookback_days)
    items = sorted((i for i in history if start < i.timestamp <= now), key=_order)
    if len(items) < MIN_INTERACTIONS:
        return []
    ctx = _Window(items, now, lookback_days, time_zone, now + valid_for)
    engagement = calculate_engagement_score(items, now=now, period_days=lookback_days, time_zone=time_zone)
    found = [
        *_channel_patterns(ctx),
        _sentiment_trend(ctx),
        _temporal_pattern(ctx),
        _engagement_pattern(ctx, engagement),
        _churn_risk(ctx, engagement),
        _detractor(ctx),
    ]
    best: dict[str, DetectedPattern] = {}
    for pattern in found:
        if pattern is None or pattern.confidence < MIN_CONFIDENCE:
            continue
        kept = best.get(pattern.pattern_type)
        if kept is None or pattern.confidence > kept.confidence:
            best[pattern.pattern_type] = pattern
    return sorted(best.values(), key=lambda p: (-p.confidence, p.pattern_type))


def calculate_engagement_score(
    history: Sequence[HistoryItem],
    *,
    now: datetime | None = None,
    period_days: int = DEFAULT_LOOKBACK_DAYS,
    time_zone: tzinfo = UTC,
) -> Engagement:
    """Engagement over the period ``(now - period_days, now]``; ``now`` defaults to the latest interaction.

    The history may come in any order (a sorted copy is used; the input is never changed) but must be
    non-empty and lie inside the period: anything else raises ValueError. Factors, each in [0, 1]:

    - frequency: active days (local calendar days with an interaction) / (FULL_FREQUENCY_DAY_SHARE x
      period days), capped at 1;
    - recency: 0.5 ** (days since the last interaction / RECENCY_HALF_LIFE_DAYS);
    - breadth: channels used / FULL_BREADTH_CHANNELS, capped at 1;
    - content share: the share of interactions that carry text (messages, reviews, tickets).

    ``score`` = ENGAGEMENT_WEIGHTS . factors; level high >= 0.7 > medium >= 0.4 > low. ``trend``
    compares visits in the earlier and the later half of the period: (later - earlier) / (later +
    earlier) >= 1/3 (twice as many) is increasing, <= -1/3 decreasing, otherwise (or with fewer than
    MIN_TREND_VISITS visits) stable.
    """
    if not history:
        raise ValueError("history: must not be empty")
    if period_days <= 0:
        raise ValueError("period_days: must be positive")
    items = sorted(history, key=_order)
    end = items[-1].timestamp if now is None else now
    _check_now(end)
    start = end - timedelta(days=period_days)
    if not start < items[0].timestamp or items[-1].timestamp > end:
        raise ValueError(f"history: every interaction must lie in ({_iso(start)}, {_iso(end)}]")

    active_days = len({i.timestamp.astimezone(time_zone).date() for i in items})
    channels = len({i.channel for i in items})
    days_since_last = (end - items[-1].timestamp).total_seconds() / 86_400
    factors = (
        min(1.0, active_days / (FULL_FREQUENCY_DAY_SHARE * period_days)),
        0.5 ** (days_since_last / RECENCY_HALF_LIFE_DAYS),
        min(1.0, channels / FULL_BREADTH_CHANNELS),
        sum(1 for i in items if i.has_content) / len(items),
    )
    score = _unit(sum(w * f for w, f in zip(ENGAGEMENT_WEIGHTS, factors, strict=True)))
    level: Level = "high" if score >= HIGH_ENGAGEMENT else "medium" if score >= MEDIUM_ENGAGEMENT else "low"

    middle = end - timedelta(days=period_days) / 2
    visits = _visit_starts([i.timestamp for i in items])
    earlier = sum(1 for v in visits if v <= middle)
    later = len(visits) - earlier
    change = (later - earlier) / len(visits)
    trend: Trend = "stable"
    if len(visits) >= MIN_TREND_VISITS and change >= TREND_CHANGE:
        trend = "increasing"
    elif len(visits) >= MIN_TREND_VISITS and change <= -TREND_CHANGE:
        trend = "decreasing"
    return Engagement(
        score=score, level=level, interaction_count=len(items), trend=trend,
        frequency=round(factors[0], 4), recency=round(factors[1], 4), breadth=round(factors[2], 4),
        content_share=round(factors[3], 4), active_days=active_days, channels=channels,
        days_since_last=round(days_since_last, 2), earlier_visits=earlier, later_visits=later,
    )


def regularity(gaps: Sequence[float]) -> float:
    """How evenly spaced the gaps are: mean(g)^2 / mean(g^2) = 1 / (1 + CV^2), in (0, 1].

    1 when every gap is equally long; 0.5 for visits at random times (a Poisson process, CV = 1);
    lower still for bursts separated by long silences. ``gaps`` must be non-empty and positive.
    """
    if not gaps or min(gaps) <= 0:
        raise ValueError("gaps: must be a non-empty sequence of positive numbers")
    mean = sum(gaps) / len(gaps)
    mean_square = sum(g * g for g in gaps) / len(gaps)
    return min(1.0, mean * mean / mean_square)


# --- detectors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    items: list[HistoryItem]  # in the window, sorted
    now: datetime
    lookback_days: int
    time_zone: tzinfo
    valid_until: datetime

    @property
    def period(self) -> str:
        return "the last day" if self.lookback_days == 1 else f"the last {self.lookback_days} days"

    def scored(self) -> list[HistoryItem]:
        return [i for i in self.items if i.sentiment_label is not None]

    def pattern(
        self, pattern_type: str, confidence: float, frequency: int, description: str,
        metadata: dict[str, JsonValue], evidence: dict[str, JsonValue],
    ) -> DetectedPattern:
        return DetectedPattern(pattern_type, _unit(confidence), frequency, description, metadata, evidence,
                               self.valid_until)


def _channel_patterns(ctx: _Window) -> list[DetectedPattern]:
    """``frequent_{channel}_user``: at least MIN_CHANNEL_VISITS visits on the channel, regularity > 0.7.

    Regularity is measured on the gaps between the starts of consecutive visits on that channel. The
    silence since the channel's last interaction is counted as one more gap when it is already longer
    than the average gap, so that a habit that has stopped is not reported as regular.
    """
    by_channel: dict[str, list[datetime]] = {}
    for item in ctx.items:
        by_channel.setdefault(item.channel, []).append(item.timestamp)
    found = []
    for channel in sorted(by_channel):
        stamps = by_channel[channel]
        visits = _visit_starts(stamps)
        if len(visits) < MIN_CHANNEL_VISITS:
            continue
        gaps = [(b - a).total_seconds() / 3600 for a, b in pairwise(visits)]
        mean_gap = sum(gaps) / len(gaps)
        silence = (ctx.now - stamps[-1]).total_seconds() / 3600
        counted = silence > mean_gap
        confidence = regularity([*gaps, silence] if counted else gaps)
        if confidence <= MIN_CONFIDENCE:
            continue
        times = f"{len(visits)} times" if len(visits) == len(stamps) else (
            f"on {len(visits)} visits ({len(stamps)} interactions)")
        found.append(ctx.pattern(
            f"frequent_{channel}_user", confidence, len(visits),
            f"Used {channel} {times} in {ctx.period}, about every {_duration(mean_gap)}",
            {"channel": channel, "avg_interval_hours": round(mean_gap, 2)},
            {
                "interactions": len(stamps), "visits": len(visits),
                "first_visit": _iso(visits[0]), "last_interaction": _iso(stamps[-1]),
                "mean_gap_hours": round(mean_gap, 2), "gap_std_hours": round(_std(gaps), 2),
                "silence_hours": round(silence, 2), "silence_counted": counted,
                "regularity": round(confidence, 4),
            },
        ))
    return found


def _sentiment_trend(ctx: _Window) -> DetectedPattern | None:
    """``{dominant}_sentiment_trend``: consistency > 0.7 over at least MIN_SCORED scored messages.

    Consistency is the share of scored messages with the most frequent label. The direction compares
    the average score of the earlier half of the scored messages with that of the later half (the
    middle one left out when their number is odd).
    """
    scored = ctx.scored()
    if len(scored) < MIN_SCORED:
        return None
    counts = Counter(i.sentiment_label for i in scored)
    dominant = max(LABELS, key=lambda label: (counts[label], -LABELS.index(label)))
    consistency = counts[dominant] / len(scored)
    if consistency <= MIN_CONFIDENCE:
        return None
    values = [v for i in scored if (v := i.sentiment_value) is not None]
    half = len(values) // 2
    earlier, later = _mean(values[:half]), _mean(values[len(values) - half:])
    change = later - earlier
    direction: Direction = ("improving" if change >= DIRECTION_CHANGE
                            else "worsening" if change <= -DIRECTION_CHANGE else "stable")
    average = _mean(values)
    wording = {"improving": ", improving", "worsening": ", getting worse", "stable": ""}[direction]
    return ctx.pattern(
        f"{dominant}_sentiment_trend", consistency, len(scored),
        f"{counts[dominant]} of {len(scored)} scored messages in {ctx.period} were "
        f"{dominant} (average {average:+.2f}){wording}",
        {"dominant": dominant, "trend": direction, "average": round(average, 4)},
        {
            "scored": len(scored), **{label: counts[label] for label in LABELS},
            "pending": sum(1 for i in ctx.items if i.has_content and i.sentiment_label is None),
            "earlier_average": round(earlier, 4), "later_average": round(later, 4),
            "first_scored": _iso(scored[0].timestamp), "last_scored": _iso(scored[-1].timestamp),
        },
    )


def _temporal_pattern(ctx: _Window) -> DetectedPattern | None:
    """``temporal_pattern``: visits concentrated in one weekly time window, confidence > 0.7.

    Candidate windows: a day set (any day, weekdays, weekends) times a block of consecutive local
    hours (HOUR_BLOCK_WIDTHS, or the whole day for weekdays and weekends). A window's confidence is
    its chance-corrected share of the visits: (share - expected) / (1 - expected), where expected is
    the share of the week the window covers (what evenly spread visits would put in it) and share is
    (visits inside + 1) / (visits + 2), as if one more visit fell inside and one outside, so that a
    handful of visits cannot reach full confidence. The best window wins; on a tie the narrower one,
    then the one with the most visits in its middle hour(s), so that the window is centred on the
    habit, then the earliest.
    """
    visits = _visit_starts([i.timestamp for i in ctx.items])
    if len(visits) < MIN_TEMPORAL_VISITS:
        return None
    grid = [[0] * 24 for _ in range(8)]  # [ISO weekday][local hour]
    for visit in visits:
        local = visit.astimezone(ctx.time_zone)
        grid[local.isoweekday()][local.hour] += 1
    best: tuple[tuple[float, float, int], str, tuple[int, ...], int, int, int] | None = None
    for day_name, days in DAY_SETS:
        hours = [sum(grid[d][h] for d in days) for h in range(24)]
        blocks = [(w, s) for w in HOUR_BLOCK_WIDTHS for s in range(24)] + ([(24, 0)] if len(days) < 7 else [])
        for width, first in blocks:
            inside = sum(hours[(first + k) % 24] for k in range(width))
            expected = len(days) / 7 * width / 24
            confidence = ((inside + 1) / (len(visits) + 2) - expected) / (1 - expected)
            centre = sum(hours[(first + k) % 24] for k in {(width - 1) // 2, width // 2})
            rank = (confidence, -expected, centre)
            if best is None or rank > best[0]:
                best = (rank, day_name, days, first, width, inside)
    assert best is not None
    (confidence, neg_expected, _), day_name, days, first, width, inside = best
    expected = -neg_expected
    if confidence <= MIN_CONFIDENCE:
        return None
    hour_list = [(first + k) % 24 for k in range(width)]
    zone = _zone_name(ctx.time_zone)
    when = {"any day": "", "weekdays": " on weekdays", "weekends": " at weekends"}[day_name]
    span = "" if width == 24 else f" between {first:02d}:00 and {(first + width) % 24:02d}:00"
    return ctx.pattern(
        "temporal_pattern", confidence, inside,
        f"{inside} of {len(visits)} visits in {ctx.period} were{when}{span} ({zone})",
        {"days": day_name, "weekdays": list(days), "hours": hour_list, "time_zone": zone},
        {
            "visits": len(visits), "in_window": inside, "share": round(inside / len(visits), 4),
            "expected_share": round(expected, 4),
            "first_visit": _iso(visits[0]), "last_visit": _iso(visits[-1]),
        },
    )


def _engagement_pattern(ctx: _Window, e: Engagement) -> DetectedPattern | None:
    """``high_engagement`` (confidence = score, above 0.7) or ``low_engagement`` (confidence = 1 - score,
    for scores of at most LOW_ENGAGEMENT): how deep into its band the score lies."""
    if e.score > HIGH_ENGAGEMENT:
        level, confidence = "high", e.score
    elif e.score <= LOW_ENGAGEMENT:
        level, confidence = "low", 1 - e.score
    else:
        return None
    trend = {"increasing": "; activity increasing", "decreasing": "; activity decreasing", "stable": ""}[e.trend]
    return ctx.pattern(
        f"{level}_engagement", confidence, e.interaction_count,
        f"{level.capitalize()} engagement (score {e.score:.2f}): active on {_days(e.active_days)} of "
        f"{ctx.period}, last seen {_days(e.days_since_last)} ago, {e.channels} "
        f"channel{'s' if e.channels != 1 else ''}, {e.content_share:.0%} with a message{trend}",
        {"score": e.score, "level": e.level, "trend": e.trend},
        {
            "interactions": e.interaction_count, "active_days": e.active_days, "channels": e.channels,
            "days_since_last": e.days_since_last, "frequency": e.frequency, "recency": e.recency,
            "breadth": e.breadth, "content_share": e.content_share,
            "earlier_visits": e.earlier_visits, "later_visits": e.later_visits,
        },
    )


def _churn_risk(ctx: _Window, e: Engagement) -> DetectedPattern | None:
    """``churn_risk``: activity falling while the customer's messages are mostly negative.

    Both signs must be there: the engagement trend is decreasing (drop = 1 - later / earlier visits in
    the halves of the window, at least 0.5) and at least half of the scored messages in the window
    (at least MIN_SCORED_SENTIMENT_RISK) are negative. Confidence = 1 - (1 - drop) x (1 - negative
    share): each sign removes part of the doubt that the other leaves, so it is at least 0.75 and
    reaches 1 when activity stopped or every message was negative. A customer who fades away content,
    or an unhappy one as active as ever, is not flagged.
    """
    scored = ctx.scored()
    if e.trend != "decreasing" or len(scored) < MIN_SCORED_SENTIMENT_RISK:
        return None
    drop = 1 - e.later_visits / e.earlier_visits
    negative = sum(1 for i in scored if i.sentiment_label == "negative")
    if drop < CHURN_MIN_DROP or negative / len(scored) < CHURN_MIN_NEGATIVE_SHARE:
        return None
    confidence = 1 - (1 - drop) * (1 - negative / len(scored))
    half = ctx.lookback_days / 2
    average = _mean([v for i in scored if (v := i.sentiment_value) is not None])
    return ctx.pattern(
        "churn_risk", confidence, negative,
        f"Visits fell from {e.earlier_visits} in the first {_days(half)} of {ctx.period} "
        f"to {e.later_visits} in the last {_days(half)}, and {negative} of {len(scored)} scored messages "
        f"were negative",
        {"drop": round(drop, 4), "negative_share": round(negative / len(scored), 4)},
        {
            "earlier_visits": e.earlier_visits, "later_visits": e.later_visits, "scored": len(scored),
            "negative": negative, "average_sentiment": round(average, 4),
            "last_interaction": _iso(ctx.items[-1].timestamp),
        },
    )


def _detractor(ctx: _Window) -> DetectedPattern | None:
    """``detractor``: recent messages are consistently negative.

    Confidence = the recency-weighted negative share of the scored messages in the window, a message's
    weight halving with every DETRACTOR_HALF_LIFE_DAYS of age; at least MIN_SCORED_SENTIMENT_RISK
    scored messages, the latest at most DETRACTOR_RECENT_DAYS old.
    """
    scored = ctx.scored()
    if len(scored) < MIN_SCORED_SENTIMENT_RISK:
        return None
    latest_age = _age_days(ctx.now, scored[-1].timestamp)
    if latest_age > DETRACTOR_RECENT_DAYS:
        return None
    weights = [0.5 ** (_age_days(ctx.now, i.timestamp) / DETRACTOR_HALF_LIFE_DAYS) for i in scored]
    weighted = sum(w for w, i in zip(weights, scored, strict=True) if i.sentiment_label == "negative") / sum(weights)
    if weighted < MIN_CONFIDENCE:
        return None
    negatives = [i for i in scored if i.sentiment_label == "negative"]
    average = _mean([v for i in scored if (v := i.sentiment_value) is not None])
    return ctx.pattern(
        "detractor", weighted, len(negatives),
        f"{len(negatives)} of {len(scored)} scored messages in {ctx.period} were negative, "
        f"the latest message {_days(latest_age)} ago",
        {"weighted_negative_share": round(weighted, 4), "half_life_days": DETRACTOR_HALF_LIFE_DAYS},
        {
            "scored": len(scored), "negative": len(negatives), "average_sentiment": round(average, 4),
            "last_negative": _iso(negatives[-1].timestamp), "last_scored": _iso(scored[-1].timestamp),
        },
    )


# --- helpers -----------------------------------------------------------------------------------


def _order(item: HistoryItem) -> tuple[datetime, str, str, str, float, bool]:
    """A total order, so that results never depend on the order the history came in."""
    score = item.sentiment_score if item.sentiment_score is not None else -2.0
    return (item.timestamp, item.channel, item.event_type, item.sentiment_label or "", score, item.has_content)


def _visit_starts(stamps: Sequence[datetime]) -> list[datetime]:
    """Start of each visit in sorted timestamps: a new visit begins after a gap longer than SESSION_GAP."""
    starts = [stamps[0]] if stamps else []
    for previous, current in pairwise(stamps):
        if current - previous > SESSION_GAP:
            starts.append(current)
    return starts


def _check_now(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now: must carry a time zone")


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _std(values: Sequence[float]) -> float:
    mean = _mean(values)
    return math.sqrt(_mean([(v - mean) ** 2 for v in values]))


def _age_days(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds() / 86_400


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(hours: float) -> str:
    return f"{hours / 24:.1f} days" if hours >= 24 else f"{hours:.1f} hours"


def _days(days: float) -> str:
    number = f"{days:.1f}".removesuffix(".0")
    return f"{number} day" if number == "1" else f"{number} days"


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)
