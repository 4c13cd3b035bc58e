"""Random interaction histories loaded through the real ingest API, scored the way the worker writes scores,
and a brute-force reference (plain Python over every row, read as the owner) for the read side's answers."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg.types.json import Jsonb

from tests.ingest_support import Org, batch, iso

CHANNELS = ("web", "mobile", "email", "chat", "phone")
SEGMENTS = ("enterprise", "smb", "consumer", None)
EVENT_TYPES = ("page_view", "support_message", "purchase", "review", "refund_request")
WORDS = ("refund", "late", "delivery", "great", "support", "broken", "love", "slow", "price", "quality", "app")


@dataclass(frozen=True)
class Row:
    id: str
    customer_id: str
    external_id: str
    timestamp: datetime
    channel: str
    event_type: str
    segment: str | None
    label: str
    score: Decimal | None
    content: str | None


def random_events(rng: random.Random, n: int, *, start: datetime, end: datetime, customers: int = 30,
                  tag: str = "") -> list[dict[str, Any]]:
    """Events spread over [start, end), some with text, segments that change now and then."""
    span = (end - start).total_seconds()
    out = []
    for _ in range(n):
        channel = rng.choice(CHANNELS)
        text = channel in ("email", "chat", "phone") or rng.random() < 0.3
        metadata: dict[str, Any] = {}
        segment = rng.choice(SEGMENTS)
        if segment is not None:
            metadata["segment"] = segment
        out.append({
            "customerId": f"{tag}c{rng.randrange(customers)}",
            "timestamp": iso(start + timedelta(seconds=rng.uniform(0, span))),
            "channel": channel, "eventType": rng.choice(EVENT_TYPES), "metadata": metadata,
            **({"content": " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))} if text else {}),
        })
    return out


def load(http: httpx.Client, org: Org, events: Sequence[dict[str, Any]], chunk: int = 500) -> list[str]:
    ids = []
    for i in range(0, len(events), chunk):
        response = batch(http, org, list(events[i:i + chunk]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert int(body.get("failed", 0)) == 0, body
        ids += [r["interactionId"] for r in body["results"]]
    return ids


def score_some(owner_db: psycopg.Connection, org_id: str, rng: random.Random, share: float = 0.7) -> int:
    """Writes scores as the worker does (sentiment JSON, processed_at; rows without text get no sentiment)."""
    rows = owner_db.execute(
        "SELECT id, timestamp, content FROM customer_interactions WHERE organization_id = %s AND processed_at IS NULL",
        (org_id,)).fetchall()
    n = 0
    with owner_db.transaction():
        for rid, ts, content in rows:
            if rng.random() > share:
                continue
            if content:
                neg = round(rng.random(), 6)
                pos = round(rng.random() * (1 - neg), 6)
                neu = round(1 - neg - pos, 6)
                label = max((("negative", neg), ("neutral", neu), ("positive", pos)), key=lambda x: x[1])[0]
                sentiment: Any = Jsonb({"label": label, "negative": neg, "neutral": neu, "positive": pos,
                                        "model": "sentiment", "version": "1"})
                owner_db.execute(
                    "UPDATE customer_interactions SET sentiment = %s, sentiment_confidence = %s, processed_at = now()"
                    " WHERE id = %s AND timestamp = %s", (sentiment, round(max(neg, neu, pos), 4), rid, ts))
            else:
                owner_db.execute(
                    "UPDATE customer_interactions SET processed_at = now() WHERE id = %s AND timestamp = %s", (rid, ts))
            n += 1
    return n


def rows(owner_db: psycopg.Connection, org_id: str) -> list[Row]:
    found = owner_db.execute(
        "SELECT i.id, i.customer_id, c.external_id, i.timestamp, i.channel, i.event_type, i.segment,"
        " i.sentiment_label, i.sentiment_score, i.content FROM customer_interactions i"
        " JOIN customers c ON c.id = i.customer_id WHERE i.organization_id = %s", (org_id,)).fetchall()
    return [Row(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in found]


@dataclass(frozen=True)
class Reference:
    """The brute-force answer for a filter over ``Row``s."""

    start: datetime
    end: datetime
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    smin: float | None = None
    smax: float | None = None
    customer: str = ""
    word: str = ""
    zone: str = "UTC"
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()

    def match(self, r: Row) -> bool:
        local = r.timestamp.astimezone(ZoneInfo(self.zone))
        return (
            self.start <= r.timestamp < self.end
            and (not self.channels or r.channel in self.channels)
            and (not self.segments or (r.segment or "(none)") in self.segments)
            and (not self.event_types or r.event_type in self.event_types)
            and (not self.sentiments or r.label in self.sentiments)
            and (self.smin is None or (r.score is not None and r.score >= Decimal(repr(self.smin))))
            and (self.smax is None or (r.score is not None and r.score <= Decimal(repr(self.smax))))
            and (not self.customer or self.customer in (r.customer_id, r.external_id))
            and (not self.word or (r.content is not None and self.word in r.content.split()))
            and (not self.weekdays or local.isoweekday() in self.weekdays)
            and (not self.hours or local.hour in self.hours)
        )

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"startDate": iso(self.start), "endDate": iso(self.end), "timeZone": self.zone}
        for name, values in (("channels", self.channels), ("customerSegments", self.segments),
                             ("eventTypes", self.event_types), ("sentiments", self.sentiments)):
            if values:
                p[name] = ",".join(values)
        if self.weekdays:
            p["weekdays"] = [str(d) for d in self.weekdays]
        if self.hours:
            p["hours"] = [str(h) for h in self.hours]
        if self.smin is not None:
            p["sentimentMin"] = repr(self.smin)
        if self.smax is not None:
            p["sentimentMax"] = repr(self.smax)
        if self.customer:
            p["customerId"] = self.customer
        if self.word:
            p["q"] = self.word
        return p


def distribution(matched: Sequence[Row]) -> dict[str, int]:
    out = {k: 0 for k in ("negative", "neutral", "positive", "pending", "none")}
    for r in matched:
        out[r.label] += 1
    return out


def average(matched: Sequence[Row]) -> float | None:
    scores = [r.score for r in matched if r.score is not None]
    return float(sum(scores, Decimal(0)) / len(scores)) if scores else None


def random_reference(rng: random.Random, start: datetime, end: datetime, data: Sequence[Row],
                     *, raw_filters: bool = True) -> Reference:
    """A random filter: some dimensions, sometimes the raw-only ones (score range, customer, text, hours)."""
    span = (end - start).total_seconds()
    a, b = sorted(rng.uniform(0, span) for _ in range(2))
    lo = start + timedelta(seconds=a) if rng.random() < 0.7 else start
    hi = start + timedelta(seconds=b) if rng.random() < 0.7 else end
    pick: Callable[[Sequence[str]], tuple[str, ...]] = lambda values: tuple(  # noqa: E731
        sorted(set(rng.sample(list(values), rng.randint(1, 2))))) if rng.random() < 0.35 else ()
    kwargs: dict[str, Any] = {
        "start": lo.replace(microsecond=0), "end": hi.replace(microsecond=0) + timedelta(seconds=1),
        "channels": pick(CHANNELS), "segments": pick(("enterprise", "smb", "consumer", "(none)")),
        "event_types": pick(EVENT_TYPES), "sentiments": pick(("negative", "neutral", "positive", "pending", "none")),
        "zone": rng.choice(("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York")),
    }
    if raw_filters:
        if rng.random() < 0.2:
            kwargs["smin"] = round(rng.uniform(-1, 0.5), 2)
        if rng.random() < 0.15:
            kwargs["smax"] = round(rng.uniform(0, 1), 2)
        if rng.random() < 0.15 and data:
            kwargs["customer"] = rng.choice(data).external_id
        if rng.random() < 0.15:
            kwargs["word"] = rng.choice(WORDS)
        if rng.random() < 0.1:
            kwargs["hours"] = tuple(sorted(rng.sample(range(24), 6)))
        if rng.random() < 0.1:
            kwargs["weekdays"] = tuple(sorted(rng.sample(range(1, 8), 3)))
    return Reference(**kwargs)


def unique_tag() -> str:
    return f"t{uuid.uuid4().hex[:6]}-"


__all__ = ["UTC", "Reference", "Row"]
