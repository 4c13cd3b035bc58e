"""Interaction filters: parsed once, every bad field named, into a typed ``InteractionQuery``.

The same fields (and names) in every filtering request: ``startDate``/``endDate`` (RFC 3339 instants, or
``YYYY-MM-DD`` dates read in ``timeZone``: a date start is that day's local midnight, a date end includes
that whole day), lists (``channels``, ``customerSegments``, ``eventTypes``, ``sentiments``) given
comma-separated, repeated, or both (``weekdays`` and ``hours`` are numbers: repeated only, as Envoy parses
them), ``sentimentMin``/``sentimentMax`` (inclusive, -1..1), ``customerId``,
``q`` (full-text, websearch syntax), ``timeZone`` (IANA; default the organization's), ``weekdays`` (ISO,
1 = Monday) and ``hours`` (0..23) in that zone. Without dates, the last ``default_range_days`` local days
(today included): a range aligned to local midnights, so that repeated dashboard calls share cache
entries and rollup rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from insights.errors import FieldViolation, ValidationError
from insights.ingestion.validation import CHANNELS
from insights.settings import QuerySettings

SENTIMENT_STATES = ("negative", "neutral", "positive", "pending", "none")
"""Labels a filter may name: the model's three, ``pending`` (not analysed yet) and ``none`` (no text)."""
NO_SEGMENT = "(none)"
"""The ``customerSegments`` value that matches interactions of customers without a segment."""
MAX_LIST = 100
MAX_VALUE = 100
MAX_Q = 500
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RawFilter:
    """The filter fields as a request carries them (strings and lists, unchecked)."""

    start_date: str = ""
    end_date: str = ""
    channels: Sequence[str] = ()
    sentiment_min: float | None = None
    sentiment_max: float | None = None
    customer_segments: Sequence[str] = ()
    customer_id: str = ""
    event_types: Sequence[str] = ()
    sentiments: Sequence[str] = ()
    q: str = ""
    time_zone: str = ""
    weekdays: Sequence[int] = ()
    hours: Sequence[int] = ()


@dataclass(frozen=True)
class InteractionQuery:
    """A validated filter: the half-open instant range [start, end) and canonical (sorted, unique) lists."""

    start: datetime
    end: datetime
    time_zone: ZoneInfo
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    sentiment_min: float | None = None
    sentiment_max: float | None = None
    customer: str = ""
    """The customer reference as given (our UUID or the external id)."""
    customer_id: UUID | None = field(default=None, compare=False)
    """Resolved by the service; None with ``customer`` set means an unknown customer (nothing matches)."""
    q: str = ""
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    dates_given: bool = True
    """False when the range is the default one."""

    @property
    def zone_name(self) -> str:
        return self.time_zone.key

    @property
    def rollup_answerable(self) -> bool:
        """Whether the rollups hold the answer: they know channel, segment, event type and label, nothing else."""
        return not (
            self.sentiment_min is not None or self.sentiment_max is not None or self.customer or self.q
            or self.weekdays or self.hours
        )

    def with_range(self, start: datetime, end: datetime) -> InteractionQuery:
        return replace(self, start=start, end=end, dates_given=True)

    def narrowed(self, dimension: str, values: Iterable[str]) -> InteractionQuery:
        """The same filter restricted to ``values`` of a dimension (a breakdown value, a label)."""
        wanted = tuple(sorted(set(values)))
        if dimension == "channel":
            return replace(self, channels=_intersect(self.channels, wanted))
        if dimension == "segment":
            return replace(self, segments=_intersect(self.segments, wanted))
        if dimension == "event_type":
            return replace(self, event_types=_intersect(self.event_types, wanted))
        if dimension == "sentiment":
            return replace(self, sentiments=_intersect(self.sentiments, wanted))
        raise ValueError(dimension)

    def cache_key(self) -> str:
        """A canonical string of everything that selects rows (for cache keys and page-token scopes)."""
        return self.query_string()

    def query_string(self) -> str:
        """This filter as the query string of ``GET /api/data/interactions`` (instants in UTC)."""
        # Trends and metrics render one per number (hundreds per answer) that differ only in their dates.
        rest = _query_rest(self.channels, self.segments, self.event_types, self.sentiments, self.sentiment_min,
                           self.sentiment_max, self.customer, self.q, self.zone_name, self.weekdays, self.hours)
        # RFC 3339 in UTC ("2026-03-01T00:00:00Z") holds only characters that need no escaping here.
        return f"startDate={_iso(self.start)}&endDate={_iso(self.end)}&{rest}"


@lru_cache(maxsize=4096)
def _query_rest(channels: tuple[str, ...], segments: tuple[str, ...], event_types: tuple[str, ...],
                sentiments: tuple[str, ...], sentiment_min: float | None, sentiment_max: float | None, customer: str,
                q: str, zone: str, weekdays: tuple[int, ...], hours: tuple[int, ...]) -> str:
    params: list[tuple[str, str]] = []
    params += [("channels", ",".join(channels))] if channels else []
    params += [("customerSegments", ",".join(segments))] if segments else []
    params += [("eventTypes", ",".join(event_types))] if event_types else []
    params += [("sentiments", ",".join(sentiments))] if sentiments else []
    if sentiment_min is not None:
        params.append(("sentimentMin", repr(sentiment_min)))
    if sentiment_max is not None:
        params.append(("sentimentMax", repr(sentiment_max)))
    params += [("customerId", customer)] if customer else []
    params += [("q", q)] if q else []
    params.append(("timeZone", zone))
    # Numbers go as repeated parameters: Envoy's transcoder reads int32 lists only that way.
    params += [("weekdays", str(d)) for d in weekdays]
    params += [("hours", str(h)) for h in hours]
    return urlencode(params, safe=",:")


def _intersect(current: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Restricting an existing list keeps only values in both; an empty result must still match nothing,
    which a sentinel that no row carries does."""
    if not current:
        return wanted
    both = tuple(v for v in wanted if v in current)
    return both or ("\x00",)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def split_list(values: Iterable[str]) -> list[str]:
    """Repeated parameters, each of which may itself be a comma list; blanks dropped."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_zone(name: str, field_name: str = "timeZone") -> ZoneInfo:
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError.single(field_name, "must be an IANA time zone name, e.g. Europe/Berlin") from None


HOUR = timedelta(hours=1)
QUARTER_HOUR = timedelta(minutes=15)
"""Every UTC offset in use is a multiple of 15 minutes, so local hour boundaries fall on UTC quarter hours."""


def floor_utc(moment: datetime, step: timedelta) -> datetime:
    """``moment`` down to a whole UTC ``step`` (:data:`HOUR` or :data:`QUARTER_HOUR`: steps that divide an hour)."""
    moment = moment.astimezone(UTC)
    minutes = int(step.total_seconds()) // 60
    return moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)


def ceil_utc(moment: datetime, step: timedelta) -> datetime:
    """``moment`` up to a whole UTC ``step`` (itself when it is one)."""
    floor = floor_utc(moment, step)
    return floor if floor == moment else floor + step


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local calendar day starts. A midnight that a DST change skips maps (fold=0, the offset
    before the change) to the change itself, the day's first instant; a repeated one to its first instant."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _parse_instant(value: str, name: str, zone: ZoneInfo | None, *, end: bool) -> datetime | FieldViolation:
    value = value.strip()
    if _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return FieldViolation(name, "is not a valid date (YYYY-MM-DD)")
        if zone is None:
            return FieldViolation(name, "cannot be read without a valid timeZone")
        return local_midnight(day + timedelta(days=1) if end else day, zone)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return FieldViolation(name, "must be an RFC 3339 instant (2026-03-29T12:00:00Z) or a date (YYYY-MM-DD)")
    if moment.utcoffset() is None:
        return FieldViolation(name, "needs a UTC offset (Z or +01:00), or use a date (YYYY-MM-DD)")
    if not datetime(1970, 1, 1, tzinfo=UTC) <= moment <= datetime(2200, 1, 1, tzinfo=UTC):
        return FieldViolation(name, "is out of range")
    return moment.astimezone(UTC)


def _check_values(
    values: list[str], name: str, allowed: Iterable[str] | None, violations: list[FieldViolation]
) -> tuple[str, ...]:
    if len(values) > MAX_LIST:
        violations.append(FieldViolation(name, f"may list at most {MAX_LIST} values"))
        return ()
    known = frozenset(allowed) if allowed is not None else None
    bad = [v for v in values if (known is not None and v not in known) or len(v) > MAX_VALUE or "\x00" in v]
    if bad:
        hint = f"must be one of {', '.join(sorted(known))}" if known is not None else (
            f"values must be at most {MAX_VALUE} characters")
        violations.append(FieldViolation(name, f"{hint} (got {', '.join(repr(b[:40]) for b in bad[:5])})"))
        return ()
    return tuple(sorted(set(values)))


def _check_ints(values: Sequence[int], name: str, low: int, high: int, violations: list[FieldViolation]
                ) -> tuple[int, ...]:
    bad = [v for v in values if not low <= v <= high]
    if bad:
        violations.append(FieldViolation(name, f"must be between {low} and {high} (got {bad[0]})"))
        return ()
    return tuple(sorted(set(values)))


def parse_filter(
    raw: RawFilter, *, organization_zone: str, now: datetime, settings: QuerySettings,
    violations: list[FieldViolation] | None = None,
) -> InteractionQuery:
    """Validates every field; raises ``ValidationError`` naming each bad one (together with any
    ``violations`` the caller found in the request's other fields)."""
    bad: list[FieldViolation] = violations if violations is not None else []
    zone: ZoneInfo | None
    try:
        zone = parse_zone(raw.time_zone or organization_zone or settings.default_time_zone)
    except ValidationError as exc:
        bad += exc.violations
        zone = None

    start = _parse_instant(raw.start_date, "startDate", zone, end=False) if raw.start_date.strip() else None
    end = _parse_instant(raw.end_date, "endDate", zone, end=True) if raw.end_date.strip() else None
    for value in (start, end):
        if isinstance(value, FieldViolation):
            bad.append(value)
    start_at = start if isinstance(start, datetime) else None
    end_at = end if isinstance(end, datetime) else None
    defaulted = not raw.start_date.strip() and not raw.end_date.strip()
    if zone is not None:
        today = now.astimezone(zone).date()
        if end_at is None and not isinstance(end, FieldViolation):
            end_at = local_midnight(today + timedelta(days=1), zone)
        if start_at is None and not isinstance(start, FieldViolation) and end_at is not None:
            last_day = (end_at - timedelta(microseconds=1)).astimezone(zone).date()
            start_at = local_midnight(last_day - timedelta(days=settings.default_range_days - 1), zone)
    if start_at is not None and end_at is not None:
        if start_at >= end_at:
            bad.append(FieldViolation("endDate", "must be after startDate"))
        elif end_at - start_at > timedelta(days=settings.max_range_days):
            bad.append(FieldViolation("endDate", f"the range may span at most {settings.max_range_days} days"))

    channels = _check_values(split_list(raw.channels), "channels", CHANNELS, bad)
    segments = _check_values(split_list(raw.customer_segments), "customerSegments", None, bad)
    event_types = _check_values(split_list(raw.event_types), "eventTypes", None, bad)
    sentiments = _check_values(split_list(raw.sentiments), "sentiments", SENTIMENT_STATES, bad)
    for name, score in (("sentimentMin", raw.sentiment_min), ("sentimentMax", raw.sentiment_max)):
        if score is not None and not -1.0 <= score <= 1.0:  # also rejects NaN
            bad.append(FieldViolation(name, "must be between -1 and 1"))
    if (raw.sentiment_min is not None and raw.sentiment_max is not None
            and raw.sentiment_min > raw.sentiment_max):
        bad.append(FieldViolation("sentimentMax", "must not be below sentimentMin"))
    customer = raw.customer_id.strip()
    if len(customer) > 255:
        bad.append(FieldViolation("customerId", "must be at most 255 characters"))
    q = " ".join(raw.q.split())
    if len(q) > MAX_Q:
        bad.append(FieldViolation("q", f"must be at most {MAX_Q} characters"))
    if "\x00" in q:
        bad.append(FieldViolation("q", "must not contain NUL"))
    weekdays = _check_ints(raw.weekdays, "weekdays", 1, 7, bad)
    hours = _check_ints(raw.hours, "hours", 0, 23, bad)
    if bad:
        raise ValidationError(bad)
    assert zone is not None and start_at is not None and end_at is not None
    return InteractionQuery(
        start=start_at, end=end_at, time_zone=zone, channels=channels, segments=segments, event_types=event_types,
        sentiments=sentiments, sentiment_min=raw.sentiment_min, sentiment_max=raw.sentiment_max, customer=customer,
        q=q, weekdays=weekdays, hours=hours, dates_given=not defaulted,
    )
