"""The read side through Envoy (REST) against a brute-force reference over random data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.ingest_support import Org, new_org
from tests.query_support import (
    Reference,
    Row,
    average,
    distribution,
    load,
    random_events,
    random_reference,
    rows,
    score_some,
    unique_tag,
)
from tests.support import Stack, field_violations

END = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
START = END - timedelta(days=60)


@pytest.fixture(scope="module")
def dataset(stack: Stack, database_url: str) -> tuple[Org, list[Row]]:
    org = new_org(stack, "Query")
    rng = random.Random(7)
    with stack.client() as http:
        load(http, org, random_events(rng, 1500, start=START, end=END, tag=unique_tag()))
    with psycopg.connect(database_url, autocommit=True) as owner:
        score_some(owner, org.id, rng)
        return org, rows(owner, org.id)


def get(http: httpx.Client, org: Org, path: str, params: dict[str, Any] | list[tuple[str, str]]) -> dict[str, Any]:
    response = http.get(path, headers=org.headers, params=params or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _dist(body: dict[str, Any]) -> dict[str, int]:
    d = body.get("distribution", {})
    return {k: int(d.get(k, 0)) for k in ("negative", "neutral", "positive", "pending", "none")}


def test_every_filter_matches_the_brute_force_reference(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, data = dataset
    rng = random.Random(11)
    with stack.client() as http:
        for _ in range(40):
            ref = random_reference(rng, START, END, data)
            matched = [r for r in data if ref.match(r)]
            body = get(http, org, "/api/data/interactions", {**ref.params(), "pageSize": "100"})
            assert int(body.get("total", 0)) == len(matched), (ref, body.get("total"))
            assert not body.get("totalIsEstimate", False)
            assert _dist(body) == distribution(matched), ref
            expected_avg = average(matched)
            if expected_avg is None:
                assert "averageSentiment" not in body
            else:
                assert body["averageSentiment"] == pytest.approx(expected_avg, abs=1e-6)
            newest = sorted(matched, key=lambda r: (r.timestamp, r.id), reverse=True)[:100]
            assert [i["id"] for i in body.get("data", [])] == [r.id for r in newest], ref


def test_the_seed_query_style_works_as_written(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, data = dataset
    ref = Reference(start=START, end=END, channels=("chat", "web"))
    matched = [r for r in data if ref.match(r)]
    with stack.client() as http:
        comma = get(http, org, "/api/insights", {"startDate": ref.params()["startDate"],
                                                 "endDate": ref.params()["endDate"], "channels": "web,chat",
                                                 "page": "1", "pageSize": "50"})
        repeated = get(http, org, "/api/insights", [("startDate", ref.params()["startDate"]),
                                                    ("endDate", ref.params()["endDate"]), ("channels", "web"),
                                                    ("channels", "chat"), ("page", "1"), ("pageSize", "50")])
        page2 = get(http, org, "/api/insights", {**ref.params(), "page": "2", "pageSize": "50"})
    assert comma["total"] == repeated["total"] == str(len(matched)) or int(comma["total"]) == len(matched)
    assert [i["id"] for i in comma["data"]] == [i["id"] for i in repeated["data"]]
    ordered = sorted(matched, key=lambda r: (r.timestamp, r.id), reverse=True)
    assert [i["id"] for i in comma["data"]] == [r.id for r in ordered[:50]]
    assert [i["id"] for i in page2["data"]] == [r.id for r in ordered[50:100]]
    assert comma["nextPageToken"]


def test_bad_fields_are_each_named(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, _ = dataset
    with stack.client() as http:
        response = http.get("/api/data/interactions", headers=org.headers, params={
            "startDate": "yesterday", "channels": "web,fax", "sentiments": "angry", "timeZone": "Mars/Olympus",
            "sentimentMin": "2", "hours": "25", "sortBy": "mood", "pageSize": "500",
        })
    assert response.status_code == 400, response.text
    fields = field_violations(response)
    assert {"startDate", "channels", "sentiments", "timeZone", "sentimentMin", "hours"} <= set(fields), fields


def test_keyset_pages_walk_every_row_once_in_each_order(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, data = dataset
    ref = Reference(start=START, end=END)
    matched = [r for r in data if ref.match(r)]
    with stack.client() as http:
        for sort_by, order in (("timestamp", "desc"), ("timestamp", "asc"), ("sentiment", "desc"),
                               ("sentiment", "asc")):
            seen: list[str] = []
            token = ""
            while True:
                body = get(http, org, "/api/data/interactions", {**ref.params(), "pageSize": "100", "sortBy": sort_by,
                                                                  "sortOrder": order, "pageToken": token})
                seen += [i["id"] for i in body.get("data", [])]
                token = body.get("nextPageToken", "")
                if not token:
                    break
            assert len(seen) == len(set(seen)) == len(matched), sort_by
            if sort_by == "sentiment":
                scored = sorted((r for r in matched if r.score is not None),
                                key=lambda r: (r.score, r.timestamp, r.id), reverse=order == "desc")
                unscored = sorted((r for r in matched if r.score is None), key=lambda r: (r.timestamp, r.id),
                                  reverse=order == "desc")
                assert seen == [r.id for r in scored + unscored]


def test_same_query_without_writes_gives_the_same_page_and_total(stack: Stack, dataset: tuple[Org, list[Row]]
                                                                ) -> None:
    org, data = dataset
    rng = random.Random(5)
    with stack.client() as http:
        for _ in range(5):
            params = {**random_reference(rng, START, END, data).params(), "pageSize": "30"}
            first = get(http, org, "/api/data/interactions", params)
            second = get(http, org, "/api/data/interactions", params)
            assert first == second


def _buckets(ref: Reference, grain: str) -> list[tuple[datetime, datetime]]:
    from zoneinfo import ZoneInfo

    from insights.query.buckets import buckets
    return [(b.start, b.end) for b in buckets(ref.start, ref.end, ZoneInfo(ref.zone), grain)]  # type: ignore[arg-type]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_trends_and_drill_downs_match_the_reference(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, data = dataset
    rng = random.Random(23)
    with stack.client() as http:
        for n in range(16):
            ref = random_reference(rng, START, END, data, raw_filters=n % 4 == 3)
            grain = rng.choice(("hour", "day", "week", "month")) if (ref.end - ref.start).days < 20 else rng.choice(
                ("day", "week", "month"))
            breakdown = rng.choice(("", "channel", "segment", "event_type"))
            body = get(http, org, "/api/insights/trends", {**ref.params(), "groupBy": grain, "breakdown": breakdown,
                                                           "breakdownLimit": "2", "comparePrevious": "true"})
            expected = _buckets(ref, grain)
            points = body.get("points", [])
            assert [(_ts(p["bucketStart"]), _ts(p["bucketEnd"])) for p in points] == expected
            for p in points:
                lo, hi = _ts(p["bucketStart"]), _ts(p["bucketEnd"])
                inside = [r for r in data if ref.match(r) and lo <= r.timestamp < hi]
                assert int(p.get("total", 0)) == len(inside), (ref, grain, p["label"])
                assert _dist(p) == distribution(inside)
            # Drill-downs list exactly the interactions behind a number (a few of them, every series).
            for series in body.get("series", []):
                assert series.get("other", False) == (series["key"] == "other")
                for p in rng.sample(series["points"], min(2, len(series["points"]))):
                    listed = get(http, org, f"/api/data/interactions?{p['drillDown']['query']}&pageSize=1", [])
                    assert int(listed.get("total", 0)) == int(p.get("total", 0)), (breakdown, series["key"])
            if breakdown:
                assert sum(int(s.get("total", 0)) for s in body["series"]) == sum(int(p.get("total", 0))
                                                                                   for p in points)
                assert len([s for s in body["series"] if not s.get("other")]) <= 2


def test_metrics_match_the_reference_and_drill_down(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    org, data = dataset
    rng = random.Random(31)
    with stack.client() as http:
        for n in range(8):
            ref = random_reference(rng, START, END, data, raw_filters=n % 2 == 1)
            body = get(http, org, "/api/insights/metrics", {**ref.params(), "topEventTypes": "3"})
            matched = [r for r in data if ref.match(r)]
            assert int(body["totalInteractions"].get("value", 0)) == len(matched)
            assert int(body["uniqueCustomers"].get("value", 0)) == len({r.customer_id for r in matched})
            prev_lo, prev_hi = _ts(body["previousStartTime"]), _ts(body["previousEndTime"])
            before = [r for r in data if Reference(**{**ref.__dict__, "start": prev_lo, "end": prev_hi}).match(r)]
            change = body["totalInteractions"]["change"]
            assert float(change.get("previous", 0)) == len(before)
            assert float(change.get("absolute", 0)) == len(matched) - len(before)
            for label in ("negative", "neutral", "positive", "pending", "none"):
                assert int(body[label].get("value", 0)) == distribution(matched)[label]
            for entry in body.get("byChannel", []):
                assert int(entry["count"].get("value", 0)) == sum(1 for r in matched if r.channel == entry["key"])
                listed = get(http, org, f"/api/data/interactions?{entry['count']['drillDown']['query']}&pageSize=1",
                             [])
                assert int(listed.get("total", 0)) == int(entry["count"].get("value", 0))
            events = body.get("topEventTypes", [])
            assert sum(int(e["count"].get("value", 0)) for e in events) == len(matched)
            assert len([e for e in events if not e.get("other")]) <= 3


def test_heatmap_cells_match_the_reference(stack: Stack, dataset: tuple[Org, list[Row]]) -> None:
    from zoneinfo import ZoneInfo
    org, data = dataset
    for zone in ("Asia/Kolkata", "America/New_York"):
        ref = Reference(start=START, end=END, zone=zone)
        with stack.client() as http:
            body = get(http, org, "/api/insights/heatmap", ref.params())
        cells = {(c["weekday"], c.get("hour", 0)): int(c.get("total", 0)) for c in body["cells"]}
        assert len(cells) == 168
        expected: dict[tuple[int, int], int] = {}
        for r in data:
            if ref.match(r):
                local = r.timestamp.astimezone(ZoneInfo(zone))
                expected[(local.isoweekday(), local.hour)] = expected.get((local.isoweekday(), local.hour), 0) + 1
        assert {k: v for k, v in cells.items() if v} == expected
