"""The live feed under load, in a real browser: frame intervals and long tasks while the feed takes
200 interactions per second (plus their sentiment events: ~400 stream events/s), side by side with
the same page idle.

Two sources of that stream:

- ``--stack``: the real platform. A server with its analysis worker, Envoy serving web/dist, PostgreSQL
  and Redis (the test databases: ``TEST_DATABASE_ADMIN_URL`` / ``TEST_REDIS_URL``); the interactions are
  ingested through Envoy's REST batch endpoint (20 every 100 ms) while the dashboard has /live open.
  Besides frames and long tasks it records the JS heap and the latency from the ingest call to the row
  in the page's DOM (every interaction; the page's own clock and ours are the same machine's), and to
  its sentiment in the DOM, on one probe interaction per second watched by a second tab filtered to the
  probe customer (in the busy tab a row scrolls out of the DOM's window within a fraction of a second).
- default: the in-memory mock backend (the dashboard built with `npm run build:mock`), which runs in the
  page's own thread: the numbers include the mock's work, so they are an upper bound of the feed's cost.

Rows are capped at 500 and DOM updates are batched per animation frame.

    (cd web && npm run build:mock) && PYTHONPATH=. .venv/bin/python benchmarks/web/bench_live_feed.py [--seconds 10]
    make web && PYTHONPATH=server:. .venv/bin/python benchmarks/web/bench_live_feed.py --stack --seconds 60
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import http.server
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
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


# --- the real stack -------------------------------------------------------------------------------

STACK_DIST = REPO_ROOT / "web" / "dist"
PROBE = "bench-probe"
MARK = re.compile(r"\[b(\d+)\]")
#: In the busy tab: when each marked interaction's row first entered the DOM (its content starts "[b<n>]").
WATCH_ROWS_JS = """
() => {
  window.__seen = new Map();
  const tbody = document.querySelector('.live-table tbody');
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1 || !n.classList.contains('feed-row')) continue;
      const m = /\\[b(\\d+)\\]/.exec(n.textContent || '');
      if (m && !window.__seen.has(m[1])) window.__seen.set(m[1], now);
    }
  }).observe(tbody, { childList: true });
}
"""
#: In the probe tab: when each probe row appeared, and when its sentiment replaced "Pending".
WATCH_PROBES_JS = """
() => {
  window.__probe = new Map();
  const tbody = document.querySelector('.live-table tbody');
  const scan = () => {
    const now = Date.now();
    for (const row of tbody.querySelectorAll('tr.feed-row')) {
      const m = /\\[b(\\d+)\\]/.exec(row.textContent || '');
      if (!m) continue;
      let seen = window.__probe.get(m[1]);
      if (!seen) { seen = { visible: now, scored: null }; window.__probe.set(m[1], seen); }
      if (seen.scored === null && !row.querySelector('.sentiment-pending')) seen.scored = now;
    }
  };
  new MutationObserver(scan).observe(tbody, { childList: true, subtree: true, characterData: true, attributes: true });
}
"""
STACK_SAMPLE_JS = """
async (seconds) => {
  const frames = [];
  const longTasks = [];
  const heap = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); })
    .observe({ type: 'longtask', buffered: false });
  const sampleHeap = () => heap.push(performance.memory ? performance.memory.usedJSHeapSize : 0);
  sampleHeap();
  const heapTimer = setInterval(sampleHeap, 1000);
  let last = performance.now();
  const end = last + seconds * 1000;
  await new Promise((resolve) => {
    const step = (t) => { frames.push(t - last); last = t; if (t < end) requestAnimationFrame(step); else resolve(); };
    requestAnimationFrame(step);
  });
  clearInterval(heapTimer);
  sampleHeap();
  const rate = document.querySelector('.live-bar p')?.textContent ?? '';
  return { frames, longTasks, heap, rows: document.querySelectorAll('.live-table tbody tr').length, status: rate,
           seen: Object.fromEntries(window.__seen ?? new Map()) };
}
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


class Ingestor(threading.Thread):
    """Sends ``rate`` interactions per second through Envoy's REST batch endpoint, in batches of
    ``rate / 10`` every 100 ms (one of them, once a second, for the probe customer), and remembers when
    each marked interaction was sent."""

    def __init__(self, url: str, api_key: str, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        from insights.dev.demo import build_events

        self.url, self.api_key, self.rate, self.seconds = url, api_key, rate, seconds
        self.texts = [e["content"] for e in build_events(2000, seed=11)]
        self.sent: dict[str, float] = {}
        self.probes: set[str] = set()
        self.errors = 0
        self.late_batches = 0
        self.elapsed_s = 0.0
        self.call_ms: list[float] = []

    def run(self) -> None:
        import httpx

        per_batch = max(1, self.rate // 10)
        batches = int(self.seconds * 10)
        n = 0
        start = time.monotonic()
        # Batches go out on schedule from a small pool (a slow answer does not delay the next batch).
        with httpx.Client(base_url=self.url, timeout=30, headers={"x-api-key": self.api_key},
                          limits=httpx.Limits(max_connections=8)) as http, \
                concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            for batch in range(batches):
                due = start + batch * 0.1
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing the load, not synchronisation
                elif pause < -0.1:
                    self.late_batches += 1
                items = []
                for k in range(per_batch):
                    n += 1
                    probe = batch % 10 == 0 and k == 0
                    if probe:
                        self.probes.add(str(n))
                    items.append({
                        "customerId": PROBE if probe else f"bench-cust-{n % 500:03d}",
                        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                        "channel": ("chat", "email", "web", "mobile", "phone")[n % 5],
                        "eventType": "support_chat",
                        "content": f"[b{n}] {self.texts[n % len(self.texts)]}",
                    })
                sent_at = time.time() * 1000
                for item in items:
                    self.sent[MARK.match(item["content"]).group(1)] = sent_at  # type: ignore[union-attr]
                pool.submit(self._send, http, items)
        self.elapsed_s = time.monotonic() - start

    def _send(self, http: Any, items: list[dict[str, Any]]) -> None:
        import httpx

        began = time.monotonic()
        try:
            response = http.post("/api/data/ingest/batch", json={"interactions": items})
            if response.status_code != 200:
                self.errors += 1
        except httpx.HTTPError:
            self.errors += 1
        self.call_ms.append((time.monotonic() - began) * 1000)


def _stack_login(page: Any, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[type=email]", email)
    page.fill("input[type=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/", timeout=120_000)


def measure_stack(rate: int, seconds: float) -> dict[str, Any]:
    import httpx
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from tests.browser import chromium
    from tests.fixtures.databases import REDIS_URL, create_database, drop_database
    from tests.fixtures.stack import OPEN_LIMITS
    from tests.support import STRONG_PASSWORD, Stack, bearer, register

    if not (STACK_DIST / "index.html").exists():
        raise SystemExit("build the dashboard first: make web")
    database = create_database()
    stack = Stack(database, REDIS_URL, Path(tempfile.mkdtemp(prefix="bench-live-stack-")),
                  extra_env=dict(OPEN_LIMITS), gateway={"web_dist": STACK_DIST})
    result: dict[str, Any] = {}
    try:
        stack.start()
        with stack.client() as http:
            grant = register(http)
            email = grant["user"]["email"]
            key = http.post("/api/api-keys", headers=bearer(grant["accessToken"]),
                            json={"name": "bench", "permissions": ["data:ingest", "insights:read"]})
            key.raise_for_status()
            api_key = key.json()["secret"]
        with chromium(("--enable-precise-memory-info",)) as running:
            busy_context = running.new_context(viewport={"width": 1440, "height": 900})
            # Tall enough that every probe row stays in the DOM's window (the feed renders only the rows in view).
            probe_context = running.new_context(viewport={"width": 1440, "height": 6000})
            busy, probe = busy_context.new_page(), probe_context.new_page()
            for page in (busy, probe):
                _stack_login(page, stack.url, email, STRONG_PASSWORD)
            probe.goto(f"{stack.url}/live?customerId={PROBE}")
            busy.goto(stack.url + "/live")
            for page in (busy, probe):
                page.locator(".conn.conn-ok").wait_for(timeout=120_000)
                page.locator(".live-table tbody").wait_for(state="attached")
            busy.evaluate(WATCH_ROWS_JS)
            probe.evaluate(WATCH_PROBES_JS)
            idle = busy.evaluate(STACK_SAMPLE_JS, min(seconds, 10))
            load_before = os.getloadavg()
            ingest = Ingestor(stack.url, api_key, rate, seconds)
            ingest.start()
            loaded = busy.evaluate(STACK_SAMPLE_JS, seconds)
            ingest.join(60)
            load_after = os.getloadavg()
            with httpx.Client(base_url=stack.url, timeout=30, headers={"x-api-key": api_key}) as http:
                def counts() -> tuple[int, int]:
                    m = http.get("/api/insights/metrics").json()
                    done = sum(int(m.get(k, {}).get("value", 0)) for k in ("positive", "neutral", "negative"))
                    return done, int(m.get("pending", {}).get("value", 0))

                scored_by_then, backlog = counts()
                # The worker catches up on the backlog; then the probe tab shows the last sentiments.
                drain_start = time.monotonic()
                while counts()[1] > 0 and time.monotonic() - drain_start < 900:
                    time.sleep(2)  # polling the API's state, not synchronisation
                drain_s = time.monotonic() - drain_start
            scored_probes = "[...window.__probe.values()].filter((p) => p.scored).length"
            try:
                probe.wait_for_function(f"() => {scored_probes} >= {len(ingest.probes)}", timeout=60_000)
            except PlaywrightTimeout:
                pass  # reported: probes seen and scored, against those sent
            probes = probe.evaluate("() => Object.fromEntries(window.__probe)")
            busy_context.close()
            probe_context.close()
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            health = http.get("/api/health").json()
        visible = [seen - ingest.sent[n] for n, seen in loaded["seen"].items() if n in ingest.sent]
        probe_visible = [p["visible"] - ingest.sent[n] for n, p in probes.items() if n in ingest.probes]
        probe_scored = [p["scored"] - ingest.sent[n] for n, p in probes.items() if n in ingest.probes and p["scored"]]
        result = {
            "idle": _frames(idle, min(seconds, 10)),
            "load": _frames(loaded, seconds),
            "heap_mb": {"start": loaded["heap"][0] / 2**20, "end": loaded["heap"][-1] / 2**20,
                        "max": max(loaded["heap"]) / 2**20},
            "sent": len(ingest.sent), "errors": ingest.errors, "late_batches": ingest.late_batches,
            "ingest_rate": len(ingest.sent) / ingest.elapsed_s if ingest.elapsed_s else 0.0,
            "call_ms": {"p50": _pct(ingest.call_ms, 0.5), "p95": _pct(ingest.call_ms, 0.95)},
            "scored_during": scored_by_then, "backlog_after": backlog, "drain_s": drain_s,
            "probes_seen": len([n for n in probes if n in ingest.probes]), "probes_scored": len(probe_scored),
            "seen_in_dom": len(visible),
            "visible_ms": {"p50": _pct(visible, 0.5), "p95": _pct(visible, 0.95), "max": max(visible, default=0)},
            "probes": len(ingest.probes),
            "probe_visible_ms": {"p50": _pct(probe_visible, 0.5), "p95": _pct(probe_visible, 0.95)},
            "probe_sentiment_ms": {"p50": _pct(probe_scored, 0.5), "p95": _pct(probe_scored, 0.95),
                                   "max": max(probe_scored, default=0)},
            "load_average": {"before": load_before, "after": load_after},
            "health": health.get("status", health),
        }
    finally:
        stack.stop()
        drop_database(database)
    return result


def _frames(sample: dict[str, Any], seconds: float) -> dict[str, Any]:
    frames = sorted(sample["frames"][1:])
    return {
        "fps": len(frames) / seconds,
        "p50_ms": statistics.median(frames),
        "p95_ms": frames[int(len(frames) * 0.95)],
        "max_ms": frames[-1],
        "long_tasks": len(sample["longTasks"]),
        "long_task_ms": sum(sample["longTasks"]),
        "rows": sample["rows"],
        "status": sample["status"],
    }


def _lscpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Hypervisor vendor")
    return "; ".join(line.split(":", 1)[0].strip() + ": " + line.split(":", 1)[1].strip()
                     for line in out.splitlines() if line.split(":", 1)[0].strip() in keep)


def main_stack(rate: int, seconds: float) -> None:
    print(f"machine: {_lscpu()}")
    print(f"load average before: {os.getloadavg()}")
    r = measure_stack(rate, seconds)
    print(f"{'':24}{'idle':>12}{f'{rate}/s':>12}")
    for key, label in (("fps", "frames per second"), ("p50_ms", "frame p50 (ms)"), ("p95_ms", "frame p95 (ms)"),
                       ("max_ms", "frame max (ms)"), ("long_tasks", "long tasks (>50 ms)"),
                       ("long_task_ms", "long-task time (ms)")):
        print(f"{label:24}{r['idle'][key]:>12.1f}{r['load'][key]:>12.1f}")
    heap = r["heap_mb"]
    print(f"JS heap (MB): start {heap['start']:.1f}, end {heap['end']:.1f}, max {heap['max']:.1f}")
    print(f"ingested {r['sent']} interactions at {r['ingest_rate']:.0f}/s ({r['errors']} failed calls, "
          f"{r['late_batches']} batches sent over 100 ms late; batch call p50 {r['call_ms']['p50']:.0f} ms, "
          f"p95 {r['call_ms']['p95']:.0f} ms); {r['seen_in_dom']} rows seen entering the DOM")
    print(f"worker: {r['scored_during']} scored when the ingest ended, {r['backlog_after']} still pending, "
          f"all scored {r['drain_s']:.0f} s later")
    print(f"probes: {r['probes']} sent, {r['probes_seen']} seen in the probe tab, {r['probes_scored']} seen scored")
    v, pv, ps = r["visible_ms"], r["probe_visible_ms"], r["probe_sentiment_ms"]
    print(f"ingest -> row in the DOM (ms): p50 {v['p50']:.0f}, p95 {v['p95']:.0f}, max {v['max']:.0f}")
    print(f"probe tab ({r['probes']} probes): ingest -> visible p50 {pv['p50']:.0f}, p95 {pv['p95']:.0f}; "
          f"ingest -> sentiment visible p50 {ps['p50']:.0f}, p95 {ps['p95']:.0f}, max {ps['max']:.0f}")
    print(f"table rows in the DOM under load: {r['load']['rows']}; the feed said: {r['load']['status']}")
    la = r["load_average"]
    print(f"load average: before the load {la['before']}, after {la['after']}; health: {r['health']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--stack", action="store_true", help="the real platform instead of the mock backend")
    args = parser.parse_args()
    if args.stack:
        main_stack(args.rate, args.seconds)
        return
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
