"""Time buckets in a time zone: local hours, days, ISO weeks and months as instant ranges.

Every bucket is a half-open instant range [start, end) whose ends are local boundaries (computed with
``zoneinfo``), so a day is 23 or 25 hours long across a DST change, an hour bucket in Asia/Kolkata runs
from :30 to :30 UTC, and no local day is missing or doubled. The first and last buckets are clipped to
the query's range, so that buckets always add up to exactly the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from insights.query.filters import QUARTER_HOUR, floor_utc, local_midnight

Grain = Literal["hour", "day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("hour", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    end: datetime
    label: str
    """Local: "2026-03-29T14:00" (with the offset when the hour occurs twice), "2026-03-29", "2026-W13",
    "2026-03"."""


def _hour_starts(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Instants in [floor(start), end) at which a local hour begins."""
    moment = floor_utc(start, QUARTER_HOUR)
    while moment.astimezone(zone).minute != 0:
        moment -= QUARTER_HOUR
    starts = []
    while moment < end:
        starts.append(moment)
        moment += QUARTER_HOUR
        while moment.astimezone(zone).minute != 0:
            moment += QUARTER_HOUR
    return starts


def _first_day(moment: datetime, zone: ZoneInfo, grain: Grain) -> date:
    local = moment.astimezone(zone).date()
    if grain == "week":
        return local - timedelta(days=local.isoweekday() - 1)
    if grain == "month":
        return local.replace(day=1)
    return local


def _next_day(day: date, grain: Grain) -> date:
    if grain == "week":
        return day + timedelta(days=7)
    if grain == "month":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=1)


def _label(day: date, grain: Grain) -> str:
    if grain == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "month":
        return f"{day.year}-{day.month:02d}"
    return day.isoformat()


def _hour_label(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    label = local.strftime("%Y-%m-%dT%H:00")
    # An hour that occurs twice (clocks going back) gets its offset, so that the two labels differ.
    twin = (moment + timedelta(hours=1)).astimezone(zone)
    earlier = (moment - timedelta(hours=1)).astimezone(zone)
    if twin.strftime("%Y-%m-%dT%H") == local.strftime("%Y-%m-%dT%H") or earlier.strftime(
            "%Y-%m-%dT%H") == local.strftime("%Y-%m-%dT%H"):
        offset = local.strftime("%z")
        label += f"{offset[:3]}:{offset[3:]}"
    return label


def count_buckets(start: datetime, end: datetime, zone: ZoneInfo, grain: Grain) -> int:
    """How many buckets ``buckets`` would return, cheaply enough to check a limit first."""
    if grain == "hour":
        return int((end - start) / timedelta(hours=1)) + 2
    if grain == "day":
        return (end - start).days + 2
    if grain == "week":
        return (end - start).days // 7 + 2
    return (end - start).days // 28 + 2


def buckets(start: datetime, end: datetime, zone: ZoneInfo, grain: Grain) -> list[Bucket]:
    """The local buckets covering [start, end), clipped to it, in order."""
    if start >= end:
        return []
    if grain == "hour":
        starts = _hour_starts(start, end, zone)
        out = []
        for i, at in enumerate(starts):
            upper = starts[i + 1] if i + 1 < len(starts) else min(end, _next_hour(at, zone))
            out.append(Bucket(max(at, start), min(upper, end), _hour_label(at, zone)))
        return [b for b in out if b.start < b.end]
    out = []
    day = _first_day(start, zone, grain)
    while True:
        lower = local_midnight(day, zone)
        if lower >= end:
            break
        following = _next_day(day, grain)
        upper = local_midnight(following, zone)
        clipped = Bucket(max(lower, start), min(upper, end), _label(day, grain))
        if clipped.start < clipped.end:
            out.append(clipped)
        day = following
    return out


def _next_hour(at: datetime, zone: ZoneInfo) -> datetime:
    moment = at + QUARTER_HOUR
    while moment.astimezone(zone).minute != 0:
        moment += QUARTER_HOUR
    return moment


def is_aligned(moment: datetime, zone: ZoneInfo, grain: Grain) -> bool:
    """Whether the instant is a bucket boundary of the grain in the zone."""
    if grain == "hour":
        local = moment.astimezone(zone)
        return local.minute == 0 and local.second == 0 and local.microsecond == 0
    return local_midnight(_first_day(moment, zone, grain), zone) == moment


def previous_period(start: datetime, end: datetime, zone: ZoneInfo, grain: Grain) -> tuple[datetime, datetime]:
    """The period before [start, end) that compares with it bucket by bucket.

    When both ends are local boundaries of the grain, it is the same number of local buckets right before
    ``start`` (30 local days before 30 local days, whatever DST did to their length in hours); otherwise
    the same length in time right before ``start``."""
    if is_aligned(start, zone, grain) and is_aligned(end, zone, grain):
        count = len(buckets(start, end, zone, grain))
        if grain == "hour":
            starts = _hour_starts(start - timedelta(hours=count + 2), start, zone)
            return starts[-count], start
        day = _first_day(start, zone, grain)
        for _ in range(count):
            day = _previous_day(day, grain)
        return local_midnight(day, zone), start
    return start - (end - start), start


def _previous_day(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=7)
    if grain == "month":
        return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)
    return day - timedelta(days=1)
