"""In-process logic of the read side: filters, time-zone buckets against zoneinfo, rollup plans, cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.errors import ValidationError
from insights.infra.paging import decode_token, encode_token
from insights.query.buckets import buckets, previous_period
from insights.query.filters import RawFilter, local_midnight, parse_filter, split_list
from insights.query.rollups import plan
from insights.settings import QuerySettings

SETTINGS = QuerySettings()
NOW = datetime(2026, 3, 30, 12, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/St_Johns", "Pacific/Chatham", "America/Santiago", "Africa/Casablanca"]


def parse(**fields: object) -> object:
    return parse_filter(RawFilter(**fields), organization_zone="UTC", now=NOW, settings=SETTINGS)  # type: ignore[arg-type]


def test_lists_come_comma_separated_repeated_or_both() -> None:
    assert split_list(["web,chat", "email", " ,phone "]) == ["web", "chat", "email", "phone"]
    q = parse(channels=["chat,web", "web"])
    assert q.channels == ("chat", "web")  # type: ignore[attr-defined]


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(start_date="2026-13-01", end_date="soon", channels=["fax"], sentiments=["angry"], sentiment_min=2.0,
              time_zone="Not/AZone", weekdays=[8], hours=[24])
    fields = {v.field for v in caught.value.violations}
    assert {"startDate", "endDate", "channels", "sentiments", "sentimentMin", "timeZone", "weekdays", "hours"} <= fields


def test_dates_are_local_days_and_an_end_date_includes_its_day() -> None:
    q = parse(start_date="2026-03-29", end_date="2026-03-29", time_zone="Europe/Berlin")
    assert q.start == datetime(2026, 3, 28, 23, tzinfo=UTC)  # type: ignore[attr-defined]
    assert q.end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # type: ignore[attr-defined]  (a 23-hour day)


def test_default_range_is_the_last_30_local_days_aligned_to_midnight() -> None:
    q = parse(time_zone="Asia/Kolkata")
    assert q.end == local_midnight(date(2026, 3, 31), ZoneInfo("Asia/Kolkata"))  # type: ignore[attr-defined]
    assert q.start == local_midnight(date(2026, 3, 1), ZoneInfo("Asia/Kolkata"))  # type: ignore[attr-defined]


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(start_date="2026-03-10T00:00:00Z", end_date="2026-03-01T00:00:00Z")
    assert caught.value.violations[0].field == "endDate"


def _local_days(start: date, days: int, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The reference: local midnights straight from zoneinfo."""
    out = []
    for n in range(days):
        lo = datetime.combine(start + timedelta(days=n), datetime.min.time(), tzinfo=zone)
        hi = datetime.combine(start + timedelta(days=n + 1), datetime.min.time(), tzinfo=zone)
        out.append((lo.astimezone(UTC), hi.astimezone(UTC)))
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_day_buckets_match_zoneinfo_across_dst_with_no_day_missing_or_doubled(zone: str) -> None:
    tz = ZoneInfo(zone)
    first = date(2026, 1, 1)
    lo, hi = local_midnight(first, tz), local_midnight(first + timedelta(days=365), tz)
    got = buckets(lo, hi, tz, "day")
    assert [(b.start, b.end) for b in got] == _local_days(first, 365, tz)
    assert len({b.label for b in got}) == 365


@pytest.mark.parametrize("zone", ZONES)
def test_hour_buckets_are_local_hours_and_cover_the_range_exactly(zone: str) -> None:
    tz = ZoneInfo(zone)
    lo, hi = datetime(2026, 3, 25, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC)
    got = buckets(lo, hi, tz, "hour")
    assert got[0].start == lo and got[-1].end == hi
    assert all(a.end == b.start for a, b in pairwise(got))
    for b in got[1:-1]:
        assert b.start.astimezone(tz).minute == 0 and b.end.astimezone(tz).minute == 0
        # 30-minute DST shifts (Lord Howe) make a local hour 30 or 90 minutes long
        assert timedelta(minutes=30) <= b.end - b.start <= timedelta(minutes=90)
    assert len({b.label for b in got}) == len(got)  # a repeated local hour carries its offset


def test_kolkata_hours_run_from_half_past_to_half_past_utc() -> None:
    got = buckets(datetime(2026, 3, 1, 0, 30, tzinfo=UTC), datetime(2026, 3, 1, 3, 30, tzinfo=UTC),
                  ZoneInfo("Asia/Kolkata"), "hour")
    assert [b.label for b in got] == ["2026-03-01T06:00", "2026-03-01T07:00", "2026-03-01T08:00"]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    tz = ZoneInfo("America/New_York")
    lo, hi = local_midnight(date(2026, 3, 1), tz), local_midnight(date(2026, 5, 1), tz)
    weeks = buckets(lo, hi, tz, "week")
    assert all(b.start.astimezone(tz).isoweekday() == 1 for b in weeks[1:])
    assert weeks[1].label == "2026-W10"
    assert [b.label for b in buckets(lo, hi, tz, "month")] == ["2026-03", "2026-04"]


def test_previous_period_is_the_same_number_of_local_days() -> None:
    tz = ZoneInfo("Europe/Berlin")
    lo, hi = local_midnight(date(2026, 3, 23), tz), local_midnight(date(2026, 4, 6), tz)  # across DST
    p_lo, p_hi = previous_period(lo, hi, tz, "day")
    assert p_hi == lo and p_lo == local_midnight(date(2026, 3, 9), tz)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES), org_zone=st.sampled_from([*ZONES, None]),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
    length_minutes=st.integers(1, 60 * 24 * 80), grain=st.sampled_from(["hour", "day", "week", "month"]),
    quarters=st.booleans(),
)
def test_rollup_plans_cover_every_bucket_exactly_once(zone: str, org_zone: str | None, start: datetime,
                                                      length_minutes: int, grain: str, quarters: bool) -> None:
    tz = ZoneInfo(zone)
    lo = start.replace(tzinfo=UTC, second=0, microsecond=0)
    hi = lo + timedelta(minutes=length_minutes)
    if grain == "hour" and length_minutes > 60 * 24 * 10:
        hi = lo + timedelta(days=10)
    ranges = [(b.start, b.end) for b in buckets(lo, hi, tz, grain)]  # type: ignore[arg-type]
    p = plan(ranges, ZoneInfo(org_zone) if org_zone else None, quarters=quarters)
    oz = ZoneInfo(org_zone) if org_zone else None
    pieces: dict[int, list[tuple[datetime, datetime]]] = {}
    for d0, d1, b in p.daily:
        assert oz is not None
        pieces.setdefault(b, []).append((local_midnight(d0, oz), local_midnight(d1, oz)))
    for h0, h1, b in p.hourly:
        assert h0.minute == h1.minute == 0 and h0.second == 0
        pieces.setdefault(b, []).append((h0, h1))
    for q0, q1, b in p.quarter:
        assert quarters and q0.minute % 15 == q1.minute % 15 == 0 and q0.second == 0
        pieces.setdefault(b, []).append((q0, q1))
    for r0, r1, b in p.raw:
        pieces.setdefault(b, []).append((r0, r1))
    for i, (a, b) in enumerate(ranges):
        parts = sorted(pieces.get(i, []))
        assert parts[0][0] == a and parts[-1][1] == b
        assert all(x[1] == y[0] for x, y in pairwise(parts))
    # What comes from raw rows is partial hours only: an edge, or a bucket that holds no whole UTC hour.
    assert all(r1 - r0 < timedelta(hours=2) for r0, r1, _ in p.raw)
    if quarters:
        # With quarter hours, raw rows are needed only where a bound is not on a UTC quarter hour (never for
        # buckets of a real zone that start and end on whole minutes of a quarter).
        assert all(r1 - r0 < timedelta(minutes=30) for r0, r1, _ in p.raw)
        if lo.minute % 15 == 0 and hi.minute % 15 == 0:
            assert not p.raw


def test_page_tokens_are_bound_to_their_query() -> None:
    token = encode_token("interactions|timestamp|True|a", ["2026-03-01T00:00:00+00:00", "x"])
    assert decode_token(token, "interactions|timestamp|True|a", arity=2) == ["2026-03-01T00:00:00+00:00", "x"]
    with pytest.raises(ValidationError):
        decode_token(token, "interactions|timestamp|True|b", arity=2)
    with pytest.raises(ValidationError):
        decode_token("not a token!", "interactions|timestamp|True|a", arity=2)
