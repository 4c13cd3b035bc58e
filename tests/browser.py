"""Browser harness: Debian's Chromium driven by Playwright (no browser download), a fresh profile per
context, every console message and page error collected so that a test can assert there were none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.support import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class Console:
    """What the page said: console errors and warnings, uncaught exceptions, failed requests."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(message.text)
            elif message.type == "warning":
                self.warnings.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("requestfailed",
                lambda request: self.errors.append(f"request failed: {request.url} ({request.failure})"))


@contextmanager
def browser(
    tmp_path: Path,
    *,
    width: int = 1440,
    height: int = 900,
    color_scheme: Literal["light", "dark"] = "light",
) -> Iterator[BrowserContext]:
    """A Chromium context on a fresh user-data-dir (nothing carried over between tests)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    profile = tmp_path / f"profile-{width}x{height}-{color_scheme}"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()) -> Iterator[Browser]:
    """One Chromium process for several contexts (each ``browser.new_context(...)`` is a fresh, incognito
    profile): a test that needs several window sizes or themes at once, as one Playwright instance per
    thread is all the sync API allows."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        running = p.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True)
        try:
            yield running
        finally:
            running.close()


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts. The engine goes in through the DevTools protocol
    (page.evaluate), not a <script> tag, so the page's Content-Security-Policy stays as served."""
    page.evaluate(AXE.read_text() + "\n;undefined")
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, { resultTypes: ['violations'] })"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=2)
