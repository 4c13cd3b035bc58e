"""The dashboard as Envoy serves it: one route per built file with the right headers, index.html for
the single-page app's paths (never for the API's), and the sign-in page rendering in a real browser
without console errors (the strict Content-Security-Policy included) or serious accessibility issues.

Needs the dashboard's build (`make web`, which `make test` runs first) and Chromium (`make browser`).
WEB_SCREENSHOTS_DIR=web/screenshots keeps the sign-in page's screenshots (otherwise they go to a temp dir)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from insights.dev.gateway import (
    CONTENT_SECURITY_POLICY,
    IMMUTABLE,
    GatewayConfig,
    start,
    validate,
    web_routes,
    write_config,
)
from tests.browser import Console, axe_violations, browser, describe
from tests.support import REPO_ROOT, free_port, stop_process, wait_until

DIST = REPO_ROOT / "web" / "dist"
# The same app built against its in-memory mock backend (`npm run build:mock`), for every signed-in page.
MOCK_DIST = REPO_ROOT / "web" / "dist-mock"
MOCK_LOGIN = ("demo@example.com", "Insights-demo-2026")
PAGES = [
    "/", "/live", "/explorer?q=refund", "/customers", "/customers/CUS-10347", "/analyze",
    "/admin/users", "/admin/api-keys", "/account/sessions",
]


def test_every_built_file_gets_its_route_and_headers(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "assets" / "index-AbC123.js").write_text("export {};" * 1000)
    (tmp_path / "assets" / "index-XyZ789.css").write_text("body{}")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    routes, largest = web_routes(tmp_path, {"request_headers_to_add": ["the REST route's edge headers"]})
    by_path = {r["match"].get("path"): r for r in routes if "path" in r["match"]}
    assert set(by_path) == {"/assets/index-AbC123.js", "/assets/index-XyZ789.css", "/favicon.svg"}
    assert largest == len("export {};" * 1000)

    def headers(route: dict[str, object]) -> dict[str, str]:
        return {h["header"]["key"]: h["header"]["value"] for h in route["response_headers_to_add"]}  # type: ignore[attr-defined, index]

    js = headers(by_path["/assets/index-AbC123.js"])
    assert js["content-type"].startswith("text/javascript") and js["cache-control"] == IMMUTABLE
    assert headers(by_path["/assets/index-XyZ789.css"])["content-type"].startswith("text/css")
    assert headers(by_path["/favicon.svg"])["cache-control"] == "no-cache"  # not hashed: revalidated
    page = routes[-1]
    assert page["match"]["prefix"] == "/" and headers(page)["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The API's prefixes come before the page's catch-all.
    prefixes = [r["match"].get("prefix") for r in routes]
    assert prefixes.index("/api/") < prefixes.index("/") and prefixes.index("/insights.v1.") < prefixes.index("/")
    api = next(r for r in routes if r["match"].get("prefix") == "/api/")
    assert api["request_headers_to_add"] == ["the REST route's edge headers"], "API routes carry the edge's headers"


def test_a_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make web"):
        web_routes(tmp_path, {})


def _serve(dist: Path, workdir: Path) -> Iterator[str]:
    if not (dist / "index.html").is_file():
        pytest.fail(f"{dist} is missing: run `make web` first (make test does)")
    port = free_port()
    config = write_config(
        GatewayConfig(listen_port=port, admin_port=free_port(), listen_host="127.0.0.1", upstream_port=free_port(),
                      web_dist=dist),
        workdir / "envoy.yaml",
    )
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    envoy = start(config, log_path=workdir / "envoy.log")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 20, "Envoy serving the dashboard")
        yield url
    finally:
        stop_process(envoy)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Envoy serving web/dist, with no server behind it (the static routes need none)."""
    yield from _serve(DIST, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def served_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Envoy serving the mock-backed build: every page works without a server, under the same CSP."""
    yield from _serve(MOCK_DIST, tmp_path_factory.mktemp("dashboard-mock"))


def test_envoy_serves_the_build_with_cache_and_security_headers(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert index.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert index.headers["x-content-type-options"] == "nosniff"
        assert index.headers["referrer-policy"] == "no-referrer"
        assert index.text == (DIST / "index.html").read_text()
        assets = sorted((DIST / "assets").iterdir())
        assert assets
        for asset in assets:
            r = client.get(f"/assets/{asset.name}", headers={"accept-encoding": "identity"})
            assert r.status_code == 200, asset.name
            assert r.headers["cache-control"] == IMMUTABLE
            assert r.content == asset.read_bytes()
            kind = "text/javascript" if asset.suffix == ".js" else "text/css" if asset.suffix == ".css" else ""
            assert r.headers["content-type"].startswith(kind)
        gz = client.get(f"/assets/{assets[0].name}", headers={"accept-encoding": "gzip"})
        assert gz.headers.get("content-encoding") == "gzip" or len(assets[0].read_bytes()) < 512
        # The app's own paths answer the page (it routes in the browser); the API's never do.
        deep = client.get("/explorer?channels=web,chat")
        assert deep.status_code == 200 and deep.text == index.text
        assert client.get("/assets/index-gone.js").status_code == 404
        for api in ("/api/health", "/api/no-such-thing"):
            assert "text/html" not in client.get(api).headers.get("content-type", ""), api
        assert client.post("/customers").status_code == 404  # a page path, but not a GET


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_sign_in_page_renders_cleanly_and_accessibly(
    served: str, tmp_path: Path, width: int, height: int, scheme: str
) -> None:
    shots = Path(os.environ.get("WEB_SCREENSHOTS_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with browser(tmp_path, width=width, height=height, color_scheme=scheme) as context:  # type: ignore[arg-type]
        page = context.new_page()
        console = Console()
        console.attach(page)
        page.goto(served + "/", wait_until="networkidle")
        # Signed out, the app sends / to the sign-in page.
        page.get_by_role("heading", name="Sign in").wait_for()
        assert page.url.endswith("/login")
        assert page.get_by_label("Email").is_visible()
        assert page.get_by_label("Password").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        page.screenshot(path=str(shots / f"login-{width}x{height}-{scheme}.png"), full_page=True)
        # Keyboard: the skip link first, then everything in reading order.
        order = []
        for _ in range(7):
            page.keyboard.press("Tab")
            order.append(page.evaluate(
                "(() => { const e = document.activeElement; return e.type === 'email' || e.type === 'password' ? e.type"
                " : (e.getAttribute('aria-label') || e.textContent || '').trim(); })()"
            ))
        assert order == [
            "Skip to content", "Customer Insights, overview", "email", "password", "Sign in",
            "Forgot your password?", "Create an account",
        ]
        violations = axe_violations(page)
        assert violations == [], describe(violations)
        assert console.errors == []


def test_chromium_is_debians(tmp_path: Path) -> None:
    """The harness drives the system's browser: nothing was downloaded for it."""
    out = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=True).stdout
    assert "Chromium" in out


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_renders_under_the_csp_without_errors_or_serious_accessibility_issues(
    served_mock: str, tmp_path: Path, scheme: str
) -> None:
    """Signed in to the in-memory backend (a stand-in until the query API exists: the real
    backend's pages are the end-to-end phase's), each page loads its data and draws its charts."""
    with browser(tmp_path, width=1280, height=900, color_scheme=scheme) as context:  # type: ignore[arg-type]
        page = context.new_page()
        console = Console()
        console.attach(page)
        page.goto(served_mock + "/login")
        page.get_by_label("Email").fill(MOCK_LOGIN[0])
        page.get_by_label("Password").fill(MOCK_LOGIN[1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview").wait_for()
        problems = {}
        for path in PAGES:
            page.goto(served_mock + path, wait_until="networkidle")
            page.locator("main h1").first.wait_for()
            page.wait_for_function("() => !document.querySelector('main .loading')", timeout=10_000)
            if bad := axe_violations(page):
                problems[path] = bad
        assert problems == {}, describe([problems])
        assert console.errors == []
