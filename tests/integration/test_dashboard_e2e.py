"""The dashboard end to end, in Debian's Chromium, against the real platform: the server with its analysis
worker, Envoy serving web/dist next to the API, PostgreSQL, Redis and the mail sink. Nothing is mocked.

One organization walks through the product in order (the tests of this module share its browser page):
sign-up through the form and the emailed link, sign-in, the overview filled by the demo loader, a trend
point opening exactly its interactions, the Explorer's filters and search, a customer's patterns, text
analysis, the live feed (a new interaction and its sentiment; a server restart that the feed survives,
resuming from its last event id with nothing missed), and a session that ends while a page is open
(back to sign-in, and to the same page afterwards). Then every page is checked with axe-core and
photographed at 1440x900 and 390x844 in both themes, on this real data
(``WEB_SCREENSHOTS_DIR=web/screenshots`` keeps the pictures; otherwise they go to a temp dir).

Waits are on the page's state (Playwright's auto-waiting locators and ``expect``), with generous timeouts
for a loaded 2-core machine; nothing is asserted about time. The access tokens of this stack live 30 s,
so the silent refresh runs many times during the walk.

Needs `make web` (web/dist; `make test` builds it), Chromium (`make browser`) and the sentiment model.
"""

from __future__ import annotations

import os
import re
import struct
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from insights.dev.demo import build_events, load_demo
from insights.v1 import stream_pb2
from tests.browser import Console, axe_violations, chromium, describe
from tests.fixtures.databases import create_database, drop_database
from tests.fixtures.stack import OPEN_LIMITS
from tests.inference_support import requires_model
from tests.support import (
    REPO_ROOT,
    STRONG_PASSWORD,
    VERIFY_SUBJECT,
    Stack,
    bearer,
    next_client_ip,
    stop_process,
    unique_email,
    wait_until,
)

pytestmark = requires_model

DIST = REPO_ROOT / "web" / "dist"
WAIT_MS = 90_000
"""Playwright's timeout for anything the page waits on (the machine may be busy)."""
expect.set_options(timeout=WAIT_MS)
ACCESS_TOKEN_TTL_S = 30
DEMO_EVENTS = 500
DEMO_DAYS = 60
"""Over the overview's default period (the last 30 days) and the one before it, which it is compared with."""
LOYAL = "e2e-loyal-0001"
"""A customer who chats once a day: the worker finds a `frequent_chat_user` pattern for them."""
SIZES = ((1440, 900), (390, 844))
NO_VALUE = "\u2013"
"""What the dashboard shows for a missing value (an en dash)."""
SCHEMES = ("light", "dark")


@dataclass
class Journey:
    """What the walk through the product shares: the stack, the signed-in page, the account."""

    stack: Stack
    browser: Browser
    page: Page
    console: Console
    email: str
    password: str = STRONG_PASSWORD
    api_key: str = ""
    search_word: str = ""
    loyal_id: str = ""
    subscribes: list[stream_pb2.SubscribeRequest] = field(default_factory=list)
    live_customers: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.stack.url

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            transport=httpx.HTTPTransport(local_address=next_client_ip()))

    def ingest(self, items: list[dict[str, Any]]) -> list[str]:
        with self.http() as http:
            response = http.post("/api/data/ingest/batch", headers={"x-api-key": self.api_key},
                                 json={"interactions": items})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(r.get("interactionId") for r in results), results
        return [str(r["interactionId"]) for r in results]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        with self.http() as http:
            response = http.get(path, params=params, headers={"x-api-key": self.api_key})
        assert response.status_code == 200, response.text
        return dict(response.json())


def _now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def _message(customer: str, text: str, at: str | None = None, channel: str = "chat") -> dict[str, Any]:
    return {"customerId": customer, "timestamp": at or _now_iso(), "channel": channel, "eventType": "support_chat",
            "content": text, "metadata": {"segment": "premium", "country": "GB"}}


def _search_word() -> str:
    """A word of the demo texts with many hits: a customer-service one if the texts have it often enough."""
    texts = [e["content"].lower() for e in build_events(DEMO_EVENTS, days=DEMO_DAYS)]
    words = Counter(w for text in texts for w in set(re.findall(r"[a-z]{4,}", text)))
    for word in ("service", "flight", "customer", "delayed", "support"):
        if words[word] >= 8:
            return word
    return words.most_common(1)[0][0]


def _decode_subscribe(request: Request) -> stream_pb2.SubscribeRequest | None:
    body = request.post_data_buffer
    if not body or len(body) < 5:
        return None
    (length,) = struct.unpack(">I", body[1:5])
    return stream_pb2.SubscribeRequest.FromString(body[5 : 5 + length])


@pytest.fixture(scope="module")
def e2e_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A platform of its own (its own database: its worker must not score other tests' rows), with the
    analysis worker on, the dashboard served by Envoy, and 30-second access tokens. Rate limits are
    opened: the walk signs in many times from one address (the limits are tested elsewhere)."""
    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST} is missing: run `make web` first (make test does)")
    database = create_database()
    stack = Stack(
        database, redis_url, Path(tmp_path_factory.mktemp("e2e-stack")),
        extra_env={
            "INSIGHTS_AUTH__ACCESS_TOKEN_TTL_S": str(ACCESS_TOKEN_TTL_S),
            "INSIGHTS_PATTERNS__QUIET_S": "1",
            **OPEN_LIMITS,
        },
        gateway={"web_dist": DIST},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        drop_database(database)


@pytest.fixture(scope="module")
def journey(e2e_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    with chromium() as running:
        context = running.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        console = Console()
        console.attach(page)
        trip = Journey(e2e_stack, running, page, console, unique_email("e2e"))

        def on_request(request: Request) -> None:
            if request.url.endswith("/insights.v1.StreamService/Subscribe"):
                decoded = _decode_subscribe(request)
                if decoded is not None:
                    trip.subscribes.append(decoded)

        page.on("request", on_request)
        try:
            yield trip
        finally:
            context.close()


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _settled(page: Page) -> None:
    """The page's heading is there, nothing is loading any more, and nothing failed."""
    page.locator("main h1").first.wait_for()
    page.wait_for_function(
        "() => !document.querySelector('main .loading, main [aria-busy=\"true\"]')", timeout=WAIT_MS
    )
    errors = page.locator("main .notice-error").all_inner_texts()
    assert errors == [], errors


# --- the walk ----------------------------------------------------------------------------------


def test_signing_up_through_the_form_completes_with_the_emailed_link_and_the_chosen_password(journey: Journey) -> None:
    page = journey.page
    page.goto(journey.url + "/register")
    page.get_by_label("First name").fill("Erin")
    page.get_by_label("Last name").fill("Endtoend")
    page.get_by_label("Work email").fill(journey.email)
    page.get_by_label("Organization").fill("Northwind Outfitters")
    page.get_by_label("Password").fill(journey.password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    assert journey.stack.mail is not None
    mail = journey.stack.mail.wait_for(journey.email, VERIFY_SUBJECT, timeout_s=60)
    link = next(link for link in mail.links if "token=" in link)
    assert link.startswith(journey.url + "/verify-email?token="), link

    page.goto(link)
    # A wrong password does not complete the sign-up, and leaves the link usable.
    page.get_by_label("Password").fill("Not-the-one-chosen-1!")
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the password chosen at sign-up")
    page.get_by_label("Password").fill(journey.password)
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    assert "token=" not in page.url

    # Signed out and in again, through the form.
    page.locator(".user-menu summary").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _sign_in(page, journey.url, journey.email, journey.password)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert page.url == journey.url + "/"


def test_the_overview_fills_with_the_demo_data_once_it_is_loaded_and_scored(journey: Journey) -> None:
    with journey.http() as http:
        login = http.post("/api/auth/login", json={"email": journey.email, "password": journey.password})
        assert login.status_code == 200, login.text
        created = http.post("/api/api-keys", headers=bearer(login.json()["accessToken"]),
                            json={"name": "e2e", "permissions": ["data:ingest", "insights:read"]})
        assert created.status_code == 200, created.text
        journey.api_key = created.json()["secret"]
        report = load_demo(journey.url, email=journey.email, password=journey.password, events=DEMO_EVENTS,
                           days=DEMO_DAYS, batch_size=200, say=lambda _: None, client=journey.http())
    assert report.stored == DEMO_EVENTS, report
    # A loyal customer: a chat at the same hour every day for two weeks.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    texts = ("Thanks, that fixed it!", "Great help again, much appreciated.", "Quick question about my invoice.")
    journey.ingest([
        _message(LOYAL, texts[day % 3], (start - timedelta(days=day)).isoformat().replace("+00:00", "Z"))
        for day in range(14)
    ])
    since = (datetime.now(UTC) - timedelta(days=DEMO_DAYS + 2)).date().isoformat()

    def scored() -> bool:
        m = journey.get("/api/insights/metrics", startDate=since)
        pending = int(m.get("pending", {}).get("value", 0))
        return int(m["totalInteractions"]["value"]) == DEMO_EVENTS + 14 and pending == 0

    wait_until(scored, 300, "the worker to score the demo data", poll_s=1)
    recent = journey.get("/api/insights/metrics")  # the overview's default period: the last 30 days
    total = int(recent["totalInteractions"]["value"])
    assert 0 < total < DEMO_EVENTS + 14

    page = journey.page
    page.goto(journey.url + "/")
    _settled(page)
    kpi = page.locator(".kpi").filter(has_text="Interactions").first
    expect(kpi.locator(".kpi-value")).to_have_text(f"{total:,}")
    expect(kpi).to_contain_text("vs previous period")  # the 30 days before had interactions too
    channels = page.locator(".card").filter(has=page.get_by_role("heading", name="Channels"))
    expect(channels.locator("tbody tr")).to_have_count(5)  # chat, email, web, mobile, phone
    expect(page.locator(".trend-chart canvas").first).to_be_visible()
    expect(page.locator(".dist-legend li")).to_have_count(4)


def test_a_trend_point_opens_exactly_the_interactions_behind_it(journey: Journey) -> None:
    page = journey.page
    page.goto(journey.url + "/?chart=volume&bucket=week")
    _settled(page)
    over = page.locator(".trend-chart .u-over").first
    over.wait_for()
    box = over.bounding_box()
    assert box is not None
    legend = page.locator(".trend-chart .u-legend").first
    # Near the bottom of a bar: the lowest stack level there (negatives, if that week has any).
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.97
    page.mouse.move(x, y)
    series = legend.locator(".u-series")
    # The legend follows the pointer ("\u2013", a dash, until it has a point).
    expect(series.nth(0).locator(".u-value")).not_to_have_text(NO_VALUE)
    expect(series.nth(1).locator(".u-value")).not_to_have_text(NO_VALUE)
    values = {
        row.locator(".u-label").inner_text().strip(): row.locator(".u-value").inner_text().strip()
        for row in legend.locator(".u-series").all()[1:]
    }
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r"/explorer\?"))
    query = dict(pair.split("=", 1) for pair in page.url.split("?", 1)[1].split("&"))
    picked = query["sentiments"]
    expected = int(values[picked.capitalize()].replace(",", ""))
    assert expected > 0, values
    _settled(page)
    expect(page.locator(".results-count strong").first).to_have_text(f"{expected:,}")
    # The rows listed are that label's, inside the week.
    expect(page.locator("table.interactions tbody tr").first).to_be_visible()
    labels = page.locator("table.interactions tbody .sentiment").all_inner_texts()
    assert labels and all(label.lower().startswith(picked) for label in labels), labels


def test_the_explorer_filters_and_searches_like_the_api(journey: Journey) -> None:
    journey.search_word = word = _search_word()
    page = journey.page
    page.goto(journey.url + "/explorer")
    _settled(page)
    search = page.get_by_label("Search text")
    search.fill(word)
    search.press("Enter")
    page.wait_for_url(re.compile(rf"q={word}"))
    expected = int(journey.get("/api/data/interactions", q=word)["total"])
    assert expected > 0
    _settled(page)
    expect(page.locator(".results-count strong").first).to_have_text(f"{expected:,}")
    expect(page.locator("table.interactions mark").first).to_be_visible()

    page.locator(".filters-chips").get_by_role("button", name="chat", exact=True).click()
    page.wait_for_url(re.compile(r"channels=chat"))
    both = int(journey.get("/api/data/interactions", q=word, channels="chat")["total"])
    _settled(page)
    expect(page.locator(".results-count strong").first).to_have_text(f"{both:,}")
    channels = page.locator("table.interactions tbody td .badge").all_inner_texts()
    assert set(channels) <= {"chat"}, channels


def test_a_customer_page_shows_the_patterns_the_worker_found(journey: Journey) -> None:
    def detected() -> bool:
        return bool(journey.get("/api/insights/patterns", customerId=LOYAL).get("patterns"))

    wait_until(detected, 180, "the worker to detect the loyal customer's patterns", poll_s=1)
    page = journey.page
    page.goto(journey.url + "/customers")
    _settled(page)
    page.get_by_label("Search", exact=True).fill(LOYAL)
    page.get_by_label("Search", exact=True).press("Enter")
    page.get_by_role("link", name=LOYAL).click()
    page.wait_for_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
    journey.loyal_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name=LOYAL, level=1)).to_be_visible()
    patterns = page.locator(".card").filter(has=page.get_by_role("heading", name="Behaviour patterns"))
    expect(patterns.locator(".pattern").filter(has_text="frequent chat user")).to_be_visible()
    expect(page.locator(".timeline li")).to_have_count(14)


def test_analyzing_a_text_shows_the_models_answer(journey: Journey) -> None:
    page = journey.page
    page.goto(journey.url + "/analyze")
    page.get_by_label("Text to analyse").fill("I love this! The support team was wonderful and fixed everything.")
    page.get_by_role("button", name="Analyze").click()
    result = page.locator(".card").filter(has=page.get_by_role("heading", name="Result"))
    expect(result.locator(".sentiment")).to_have_text("Positive")
    expect(result).not_to_contain_text("rule-based")
    expect(result.locator(".score-bar")).to_have_count(3)


def _live_row(page: Page, customer: str) -> Any:
    return page.locator(".live-table tbody tr.feed-row").filter(has_text=customer)


def test_a_newly_ingested_interaction_appears_in_the_live_feed_and_gets_its_sentiment(journey: Journey) -> None:
    page = journey.page
    page.goto(journey.url + "/live")
    expect(page.locator(".indicator .conn")).to_have_text("Live")
    customer = f"e2e-live-{uuid.uuid4().hex[:8]}"
    journey.live_customers.append(customer)
    journey.ingest([_message(customer, "The new dashboard is fantastic, thank you so much!")])
    row = _live_row(page, customer)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("The new dashboard is fantastic")  # the event's preview of the content
    expect(row.locator(".sentiment")).not_to_have_text("Pending")
    expect(row.locator(".sentiment")).to_contain_text("Positive")


def test_the_live_feed_resumes_after_a_server_restart_with_no_event_missed(journey: Journey) -> None:
    page, stack = journey.page, journey.stack
    expect(page.locator(".indicator .conn")).to_have_text("Live")
    before = len(journey.subscribes)
    assert before >= 1 and journey.subscribes[0].last_event_id == ""

    assert stack.server is not None
    stop_process(stack.server)
    expect(page.locator(".indicator .conn")).not_to_have_text("Live")
    stack.start_server()
    stack.wait_healthy()
    # Events the feed has not seen yet: they may be stored before it is back, and must still arrive.
    fresh = [f"e2e-resume-{n}-{uuid.uuid4().hex[:6]}" for n in range(5)]
    journey.live_customers += fresh
    journey.ingest([_message(c, f"Order {n} arrived late and the box was damaged.") for n, c in enumerate(fresh)])

    expect(page.locator(".indicator .conn")).to_have_text("Live")
    for customer in journey.live_customers:
        row = _live_row(page, customer)
        expect(row).to_have_count(1)  # there, once: no replay doubled it
        expect(row.locator(".sentiment")).not_to_have_text("Pending")
    # The reconnect resumed from where the feed was, not from "now".
    resumed = journey.subscribes[before:]
    assert resumed and all(r.last_event_id for r in resumed), [r.last_event_id for r in resumed]


def test_a_session_that_ends_returns_to_sign_in_and_then_to_the_same_page(journey: Journey) -> None:
    page = journey.page
    target = "/explorer?channels=chat,email&sortBy=sentiment"  # a filter and a sort order, long enough to scroll
    page.goto(journey.url + target)
    _settled(page)
    page.evaluate("window.scrollTo(0, 300)")
    page.wait_for_function("() => window.scrollY >= 300")
    # The session is revoked elsewhere; the page's next refresh (at 80 % of its 30 s token) is refused.
    with journey.http() as http:
        other = http.post("/api/auth/login", json={"email": journey.email, "password": journey.password})
        assert other.status_code == 200, other.text
        revoked = http.post("/api/auth/sessions:revokeAll", headers=bearer(other.json()["accessToken"]),
                            json={"keepCurrent": True})
        assert revoked.status_code == 200, revoked.text
    page.wait_for_url(re.compile(r"/login\?expired=1"), timeout=WAIT_MS)
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    page.get_by_label("Email").fill(journey.email)
    page.get_by_label("Password").fill(journey.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(journey.url + target)
    _settled(page)
    page.wait_for_function("() => window.scrollY >= 250")


# --- every page, on real data: accessibility and screenshots -----------------------------------


def _pages(journey: Journey) -> list[tuple[str, str]]:
    return [
        ("overview", "/"),
        ("live", "/live"),
        ("explorer-search", f"/explorer?q={journey.search_word}"),
        ("customers", "/customers"),
        ("customer", f"/customers/{journey.loyal_id}"),
        ("analyze", "/analyze"),
        ("users", "/admin/users"),
        ("api-keys", "/admin/api-keys"),
        ("sessions", "/account/sessions"),
    ]


def _benign(error: str) -> bool:
    """Requests the page itself cancels when it navigates (the live stream, superseded loads)."""
    return error.startswith("request failed: ") and error.endswith("(net::ERR_ABORTED)")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_page_on_real_data_is_accessible_fits_the_screen_and_is_photographed(
    journey: Journey, tmp_path: Path, width: int, height: int, scheme: str
) -> None:
    assert journey.loyal_id and journey.search_word, "runs after the walk above"
    shots = Path(os.environ.get("WEB_SCREENSHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = journey.browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        console = Console()
        console.attach(page)
        _sign_in(page, journey.url, journey.email, journey.password)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        problems: dict[str, Any] = {}
        for name, path in _pages(journey):
            page.goto(journey.url + path)
            _settled(page)
            if name == "live":
                expect(page.locator(".indicator .conn")).to_have_text("Live")
                expect(page.locator(".live-table tbody tr.feed-row").first).to_be_visible()
            if name == "analyze":
                page.get_by_label("Text to analyse").fill("The delivery was late again and nobody answered my emails.")
                page.get_by_role("button", name="Analyze").click()
                expect(page.locator(".result-head .sentiment")).to_be_visible()
            if name in ("overview", "customer"):
                expect(page.locator(".trend-chart canvas").first).to_be_visible()
            overflow = page.evaluate("document.documentElement.scrollWidth")
            if overflow > width:
                problems[f"{name}: sideways scrolling"] = overflow
            if bad := axe_violations(page):
                problems[name] = bad
            page.screenshot(path=str(shots / f"{name}-{width}x{height}-{scheme}.png"), full_page=True)
        assert problems == {}, describe([problems])
        assert [e for e in console.errors if not _benign(e)] == []
    finally:
        context.close()
