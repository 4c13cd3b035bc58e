"""Live events: delivery to the right organization only,
filters, resume after reconnect, resync, heartbeats, slow subscribers — over two server instances
that share PostgreSQL and Redis, so any instance serves any subscriber."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis

from insights.events.types import parse_event_id
from insights.v1 import stream_pb2, stream_pb2_grpc
from tests.ingest_support import Org, batch, event, ingest, new_org
from tests.support import (
    GRPC_WEB_HEADERS,
    TRAILER_FLAG,
    Stack,
    field_violations,
    grpc_web_body,
    iter_ndjson,
    split_grpc_web_frames,
    wait_until,
)

REPLAY_MAX = 20


@pytest.fixture(scope="module")
def second(database_url: str, redis_url: str, redis_key_prefix: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Another instance (own server and Envoy, same database and Redis keys), with a short heartbeat and
    small buffers."""
    running = Stack(
        database_url, redis_url, Path(tmp_path_factory.mktemp("second")), key_prefix=redis_key_prefix,
        extra_env={"INSIGHTS_STREAM__HEARTBEAT_S": "0.3", "INSIGHTS_STREAM__SUBSCRIBER_QUEUE": "20",
                   "INSIGHTS_STREAM__REPLAY_MAX": str(REPLAY_MAX)},
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def org_a(stack: Stack) -> Org:
    return new_org(stack, "Alpha")


@pytest.fixture(scope="module")
def org_b(stack: Stack) -> Org:
    return new_org(stack, "Beta")


class Subscriber:
    """Reads a subscription on a thread; the test polls what arrived (never sleeps)."""

    def __init__(self, read: Callable[[Callable[[dict[str, Any]], None]], None], cancel: Callable[[], None]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._cancel = cancel

        def run() -> None:
            try:
                read(self.events.put)
            except BaseException as exc:  # surfaced to the test by wait_subscribed()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def drain(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.received.append(self.events.get_nowait())
            except queue.Empty:
                return self.received

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e.get("type") == kind]

    def interaction_ids(self) -> list[str]:
        return [e["interactionId"] for e in self.of_type("interaction.created")]

    def wait(self, condition: Callable[[Subscriber], bool], what: str, timeout_s: float = 20) -> None:
        def check() -> bool:
            self.drain()
            # A stream that ended with an error will never meet the condition: say why at once.
            assert self.error is None or condition(self), f"the stream ended waiting for {what}: {self.error}"
            return condition(self)

        wait_until(check, timeout_s, what, poll_s=0.05)

    def wait_subscribed(self) -> None:
        self.wait(lambda s: bool(s.of_type("heartbeat")) or s.error is not None, "the subscription")
        assert self.error is None, self.error

    def close(self) -> None:
        self._cancel()
        self.thread.join(10)


def grpc_subscriber(target: str, org: Org, **request: Any) -> Subscriber:
    channel = grpc.insecure_channel(target)
    call = stream_pb2_grpc.StreamServiceStub(channel).Subscribe(
        stream_pb2.SubscribeRequest(**request), metadata=org.metadata
    )

    def read(emit: Callable[[dict[str, Any]], None]) -> None:
        try:
            for response in call:
                message = response.event
                emit({"id": message.id, "type": message.type, "interactionId": message.interaction_id,
                      "customerId": message.customer_id, "channel": message.channel})
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise

    def cancel() -> None:
        call.cancel()
        channel.close()

    subscriber = Subscriber(read, cancel)
    subscriber.wait_subscribed()
    return subscriber


def http_subscriber(stack: Stack, request: Callable[[httpx.Client], AbstractContextManager[httpx.Response]],
                    messages: Callable[[httpx.Response], Iterator[dict[str, Any]]]) -> Subscriber:
    """A subscriber reading one streamed HTTP response through Envoy; ``messages`` parses its body."""
    client = stack.client()
    stop = threading.Event()

    def read(emit: Callable[[dict[str, Any]], None]) -> None:
        with request(client) as response:
            assert response.status_code == 200, response.read()
            try:
                for message in messages(response):
                    emit(message)
                    if stop.is_set():
                        return
            except httpx.HTTPError:
                if not stop.is_set():
                    raise

    def cancel() -> None:
        stop.set()
        client.close()

    subscriber = Subscriber(read, cancel)
    subscriber.wait_subscribed()
    return subscriber


def rest_subscriber(stack: Stack, org: Org, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None, *, sse: bool = False) -> Subscriber:
    """``GET /api/stream`` through Envoy: NDJSON, or Server-Sent Events when ``sse`` (as EventSource asks)."""
    headers = {**org.headers, **(headers or {}), **({"accept": "text/event-stream"} if sse else {})}

    def messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
        assert response.headers["content-type"].startswith("text/event-stream" if sse else "application/json")
        # One JSON object per line (NDJSON) or per "data:" field (SSE): {"event": {...}}.
        for message in (iter_sse_data(response) if sse else iter_ndjson(response)):
            yield message.get("result", message)["event"]

    return http_subscriber(
        stack,
        lambda client: client.stream("GET", "/api/stream", params=params, headers=headers,
                                     timeout=httpx.Timeout(30, read=None)),
        messages,
    )


def iter_sse_data(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield json.loads(line[len("data:"):])


def grpc_web_subscriber(stack: Stack, org: Org) -> Subscriber:
    """What a browser does: gRPC-Web framing over HTTP/1.1, through Envoy."""

    def messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
        buffer = b""
        for chunk in response.iter_bytes():
            frames, buffer = split_grpc_web_frames(buffer + chunk)
            for flag, frame in frames:
                if not flag & TRAILER_FLAG:  # a message, not the trailers
                    message = stream_pb2.SubscribeResponse.FromString(frame).event
                    yield {"id": message.id, "type": message.type, "interactionId": message.interaction_id}

    return http_subscriber(
        stack,
        lambda client: client.stream("POST", "/insights.v1.StreamService/Subscribe",
                                     content=grpc_web_body(stream_pb2.SubscribeRequest()),
                                     headers={**GRPC_WEB_HEADERS, **org.headers},
                                     timeout=httpx.Timeout(30, read=None)),
        messages,
    )


def _ingest_batch(stack: Stack, org: Org, items: list[dict[str, Any]]) -> list[str]:
    with stack.client() as http:
        response = batch(http, org, items)
    assert response.status_code == 200, response.text
    return [r["interactionId"] for r in response.json()["results"]]


def test_events_reach_subscribers_of_their_organization_only(stack: Stack, second: Stack, org_a: Org,
                                                              org_b: Org) -> None:
    """Property 10, across instances: published by instance 1, delivered by instances 1 and 2."""
    a_grpc = grpc_subscriber(second.grpc_target, org_a)
    a_rest = rest_subscriber(stack, org_a)
    a_web = grpc_web_subscriber(second, org_a)
    b_grpc = grpc_subscriber(stack.grpc_target, org_b)
    try:
        a_ids = _ingest_batch(stack, org_a, [event() for _ in range(5)])
        b_ids = _ingest_batch(second, org_b, [event() for _ in range(3)])
        for subscriber, expected in ((a_grpc, a_ids), (a_rest, a_ids), (a_web, a_ids), (b_grpc, b_ids)):
            subscriber.wait(lambda s, want=expected: len(s.interaction_ids()) >= len(want), "the events")
        # Quiet for a moment longer than any delivery, then nothing else may have arrived.
        marker = _ingest_batch(stack, org_a, [event()])
        a_grpc.wait(lambda s: marker[0] in s.interaction_ids(), "the marker event")
        b_grpc.wait(lambda s: len(s.of_type("heartbeat")) >= 1, "b's state")
        assert a_grpc.interaction_ids() == a_ids + marker
        assert a_rest.interaction_ids()[:5] == a_ids and a_web.interaction_ids()[:5] == a_ids
        assert b_grpc.interaction_ids() == b_ids, "events crossed organizations"
        created = a_grpc.of_type("interaction.created")[0]
        assert created["channel"] == "chat" and created["customerId"] and created["id"]
    finally:
        for s in (a_grpc, a_rest, a_web, b_grpc):
            s.close()


def test_filters_by_channel_customer_and_type(stack: Stack, second: Stack, org_a: Org) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    by_channel = grpc_subscriber(second.grpc_target, org_a, channels=["email"])
    by_type = grpc_subscriber(second.grpc_target, org_a, event_types=["interaction.updated"])
    with stack.client() as http:
        first = ingest(http, org_a, event(customer, channel="web", content="")).json()["interactionId"]
    by_customer = rest_subscriber(stack, org_a, params={"customerId": customer})
    try:
        items = [event(customer, channel="email"), event(channel="email"), event(customer, channel="web")]
        ids = _ingest_batch(stack, org_a, items)
        with stack.client() as http:
            updated = http.put(f"/api/data/interactions/{first}", headers=org_a.headers,
                               json={"version": 1, "eventType": "page_view_corrected"})
            assert updated.status_code == 200, updated.text
        by_channel.wait(lambda s: len(s.interaction_ids()) >= 2, "email events")
        by_customer.wait(lambda s: len(s.interaction_ids()) >= 2, "the customer's events")
        by_type.wait(lambda s: len(s.of_type("interaction.updated")) >= 1, "the update")
        assert by_channel.interaction_ids() == ids[:2]
        assert by_customer.interaction_ids() == [ids[0], ids[2]]
        assert by_type.interaction_ids() == [] and by_type.of_type("interaction.updated")[0]["interactionId"] == first
    finally:
        for s in (by_channel, by_type, by_customer):
            s.close()


def _error_body(response: httpx.Response) -> tuple[int, set[str]]:
    body = response.json()
    fields = {v["field"] for d in body.get("details", []) for v in d.get("fieldViolations", [])}
    return body["code"], fields


def test_bad_subscriptions_are_rejected_per_field(stack: Stack, org_a: Org) -> None:
    with stack.client() as http:
        bad = http.get("/api/stream", headers=org_a.headers,
                       params={"channels": "fax", "eventTypes": "everything", "lastEventId": "yesterday"})
        assert _error_body(bad) == (3, {"channels[0]", "eventTypes[0]", "lastEventId"})
        stale = http.get("/api/stream", headers=org_a.headers, params={"lastEventId": "yesterday"})
        assert _error_body(stale) == (3, {"lastEventId"})
        assert http.get("/api/stream").status_code == 401


def test_bad_subscription_answers_http_400(stack: Stack, org_a: Org) -> None:
    with stack.client() as http:
        bad = http.get("/api/stream", headers=org_a.headers, params={"channels": "fax"})
    assert bad.status_code == 400
    assert set(field_violations(bad)) == {"channels[0]"}


def test_resume_after_reconnect_replays_what_was_missed(stack: Stack, second: Stack) -> None:
    org_a = new_org(stack, "Resume")  # its own stream: only this test's events (and their analyses)
    first = grpc_subscriber(second.grpc_target, org_a)
    try:
        seen = _ingest_batch(stack, org_a, [event() for _ in range(3)])
        first.wait(lambda s: len(s.interaction_ids()) >= 3, "the first events")
        last_id = first.of_type("interaction.created")[-1]["id"]
    finally:
        first.close()
    missed = _ingest_batch(stack, org_a, [event() for _ in range(4)])
    # Reconnect over REST with the standard header, and over gRPC with the field: the same replay.
    resumed_rest = rest_subscriber(stack, org_a, headers={"last-event-id": last_id})
    # What a browser's EventSource sends on reconnect: the header, asking for text/event-stream.
    resumed_sse = rest_subscriber(stack, org_a, headers={"last-event-id": last_id}, sse=True)
    resumed = grpc_subscriber(second.grpc_target, org_a, last_event_id=last_id)
    try:
        live = _ingest_batch(stack, org_a, [event()])
        for subscriber in (resumed, resumed_rest, resumed_sse):
            subscriber.wait(lambda s: len(s.interaction_ids()) >= 5, "the replay and the live event")
            assert subscriber.interaction_ids() == missed + live
            assert not set(seen) & set(subscriber.interaction_ids())
            assert not subscriber.of_type("resync")
    finally:
        for subscriber in (resumed, resumed_rest, resumed_sse):
            subscriber.close()


def test_resume_from_too_far_back_gets_resync(stack: Stack, second: Stack) -> None:
    org_a = new_org(stack, "Resync")
    first = grpc_subscriber(second.grpc_target, org_a)
    try:
        _ingest_batch(stack, org_a, [event()])
        first.wait(lambda s: len(s.interaction_ids()) >= 1, "an event")
        last_id = first.of_type("interaction.created")[-1]["id"]
    finally:
        first.close()
    _ingest_batch(stack, org_a, [event() for _ in range(REPLAY_MAX + 5)])
    # Only creations: the worker's burst of analyses of the backlog would overflow this instance's
    # small buffer (that drop has its own test below).
    resumed = grpc_subscriber(second.grpc_target, org_a, last_event_id=last_id, event_types=["interaction.created"])
    try:
        resumed.wait(lambda s: bool(s.of_type("resync")), "a resync")
        live = _ingest_batch(stack, org_a, [event()])
        resumed.wait(lambda s: live[0] in s.interaction_ids(), "live events after the resync")
        assert resumed.interaction_ids() == live, "a resync replaces the replay"
    finally:
        resumed.close()


def test_idle_subscription_gets_heartbeats_with_its_position(stack: Stack, second: Stack) -> None:
    # A fresh organization, and a filter: the analysis worker's sentiment events (filtered out) do not
    # count as traffic, so the subscription is idle once its one event is delivered.
    org = new_org(stack, "Quiet")
    subscriber = grpc_subscriber(second.grpc_target, org, event_types=["interaction.created"])
    try:
        ids = _ingest_batch(stack, org, [event()])
        subscriber.wait(lambda s: bool(s.interaction_ids()), "an event")
        delivered = subscriber.of_type("interaction.created")[0]["id"]
        subscriber.wait(lambda s: len(s.of_type("heartbeat")) >= 3, "heartbeats")
        # Heartbeats carry the position: the delivered event's, or past events filtered out since.
        last = subscriber.of_type("heartbeat")[-1]["id"]
        assert parse_event_id(last) >= parse_event_id(delivered) and subscriber.interaction_ids() == ids
    finally:
        subscriber.close()
    # Resuming from a heartbeat's position replays nothing already delivered.
    resumed = grpc_subscriber(second.grpc_target, org, last_event_id=last, event_types=["interaction.created"])
    try:
        more = _ingest_batch(stack, org, [event()])
        resumed.wait(lambda s: bool(s.interaction_ids()), "the next event")
        assert resumed.interaction_ids() == more
    finally:
        resumed.close()


def test_slow_subscriber_is_dropped_without_slowing_others(second: Stack, org_a: Org, redis_url: str,
                                                           redis_key_prefix: str) -> None:
    slow_channel = grpc.insecure_channel(second.grpc_target)
    slow_call = stream_pb2_grpc.StreamServiceStub(slow_channel).Subscribe(
        stream_pb2.SubscribeRequest(), metadata=org_a.metadata
    )
    assert next(slow_call).event.type == "heartbeat"  # registered; from now on it reads nothing
    fast = grpc_subscriber(second.grpc_target, org_a)
    client = redis.Redis.from_url(redis_url)
    try:
        # Events with large payloads (as a worker could publish), written straight to the organization's
        # stream in steps the fast subscriber keeps up with: the slow one fills its transport's buffers,
        # then its 20-event queue.
        big = {"note": "x" * 64_000}
        count = 0
        for _ in range(60):
            for _ in range(10):
                client.xadd(f"{redis_key_prefix}events:{org_a.id}", {"e": json.dumps(
                    {"t": "pattern.detected", "at": int(time.time() * 1000), "p": big})})
                count += 1
            fast.wait(lambda s, n=count: len(s.of_type("pattern.detected")) >= n, "the fast subscriber")
        received = 0
        with pytest.raises(grpc.RpcError) as dropped:
            for message in slow_call:
                received += message.event.type == "pattern.detected"
        assert dropped.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dropped.value.details() == "Subscriber too slow; reconnect with lastEventId"
        assert received < count
    finally:
        fast.close()
        slow_call.cancel()
        slow_channel.close()
        client.xtrim(f"{redis_key_prefix}events:{org_a.id}", maxlen=0)


def test_shutdown_ends_live_streams_so_clients_reconnect(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """SIGTERM: live subscribers get UNAVAILABLE at once (reconnect elsewhere with their last id) rather than
    holding the server for its whole shutdown grace period."""
    stack = Stack(database_url, redis_url, tmp_path, extra_env={"INSIGHTS_NETWORK__SHUTDOWN_GRACE_S": "600"}).start()
    try:
        org = new_org(stack, "Shutdown")
        with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
            call = stream_pb2_grpc.StreamServiceStub(channel).Subscribe(stream_pb2.SubscribeRequest(),
                                                                      metadata=org.metadata)
            assert next(call).event.payload.fields["subscribed"].bool_value
            assert stack.server is not None
            stack.server.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as ended:
                for _ in call:
                    pass
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "reconnect with lastEventId" in (ended.value.details() or "")
        # Far below the 600 s grace: nothing else was holding the shutdown.
        assert stack.server.wait(timeout=120) == 0, stack.server_log()[-2000:]
        assert "server.stopped" in stack.server_log()
    finally:
        stack.stop()
