"""The live feed under load, in a real browser: frame intervals and long tasks while the feed takes
200 interactions per second (plus their sentiment events: ~400 stream events/s), side by side with
the same page idle.

The stream comes from the in-memory mock backend (the dashboard built with `npm run build:mock`),
which runs in the page's own thread: the numbers include the mock's work, so they are an upper
bound of the feed's cost. Rows are capped at 500 and DOM updates are batched per animation frame.

    (cd web && npm run build:mock) && PYTHONPATH=. .venv/bin/python benchmarks/web/bench_live_feed.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.browser import browser
from tests.support import REPO_ROOT, free_port

DIST = REPO_ROOT / "web" / "dist-mock"
SAMPLE_JS = """
async (seconds) => {
  const frames = [];
  const longTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); })
    .observe({ type: 'longtask', buffered: false });
  let last = performance.now();
  const end = last + seconds * 1000;
  await new Promise((resolve) => {
    const step = (t) => { frames.push(t - last); last = t; if (t < end) requestAnimationFrame(step); else resolve(); };
    requestAnimationFrame(step);
  });
  const rate = document.querySelector('.live-bar p')?.textContent ?? '';
  return { frames, longTasks, rows: document.querySelectorAll('.live-table tbody tr').length, status: rate };
}
"""


class SpaHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        if not Path(self.translate_path(self.path)).exists():
            self.path = "/index.html"
        return super().send_head()


def measure(url: str, tmp: Path, rate: int, seconds: float) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    with browser(tmp, width=1440, height=900) as context:
        page = context.new_page()
        page.goto(url + "/login")
        page.evaluate(f"localStorage.setItem('mock.eventRate', '{rate}')")
        page.fill("input[type=email]", "demo@example.com")
        page.fill("input[type=password]", "Insights-demo-2026")
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        page.goto(url + "/live")
        page.locator(".conn.conn-ok").wait_for()
        page.wait_for_timeout(2000)  # warm up: rows fill to the cap
        result: dict[str, Any] = page.evaluate(SAMPLE_JS, seconds)
    frames = sorted(result["frames"][1:])
    return {
        "rate": rate,
        "frames": len(frames),
        "fps": len(frames) / seconds,
        "p50_ms": statistics.median(frames),
        "p95_ms": frames[int(len(frames) * 0.95)],
        "max_ms": frames[-1],
        "long_tasks": len(result["longTasks"]),
        "long_task_ms": sum(result["longTasks"]),
        "rows": result["rows"],
        "status": result["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    if not (DIST / "index.html").exists():
        raise SystemExit("build the mock dashboard first: (cd web && npm run build:mock)")
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(SpaHandler, directory=str(DIST)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        # A fresh browser profile for each run (nothing signed in or cached from the other).
        idle = measure(url, tmp / "idle", 0, args.seconds)
        load = measure(url, tmp / "load", args.rate, args.seconds)
    finally:
        server.shutdown()
    print(f"{'':24}{'idle':>12}{f'{args.rate}/s':>12}{'ratio':>9}")
    rows = [
        ("fps", "frames per second"),
        ("p50_ms", "frame p50 (ms)"),
        ("p95_ms", "frame p95 (ms)"),
        ("max_ms", "frame max (ms)"),
        ("long_tasks", "long tasks (>50 ms)"),
        ("long_task_ms", "long-task time (ms)"),
    ]
    for key, label in rows:
        a, b = idle[key], load[key]
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"{label:24}{a:>12.1f}{b:>12.1f}{ratio:>9}")
    print(f"table rows in the DOM under load: {load['rows']} (windowed); the feed said: {load['status']}")


if __name__ == "__main__":
    main()
