"""The boundary's request decoding (api/decoding.py): total, and precise about which field is bad.

Every request type of every method is decoded from arbitrary bytes without raising (Hypothesis), and a
string field that is not UTF-8, holds NUL or a lone surrogate is named by its REST JSON path, at any
depth: nested messages, repeated fields, maps and google.protobuf.Struct values."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2  # noqa: F401  (registers the health types in the pool)
from grpc_reflection.v1alpha import reflection_pb2  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights.api.access import API_FILES
from insights.api.decoding import (
    BAD_TIMESTAMP,
    HAS_NUL,
    NOT_UTF8,
    SURROGATE,
    Rejected,
    deserializer_for,
    guard,
    request_type_of,
)
from insights.api.interceptor import _item_path
from insights.v1 import analysis_pb2, common_pb2, ingestion_pb2, privacy_pb2, stream_pb2

METHODS = [
    f"/{service.full_name}/{method.name}"
    for file in API_FILES
    for service in file.services_by_name.values()
    for method in service.methods
] + [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]
MARK = "\ue000"  # a placeholder replaced by hostile bytes in the encoding


def violations(result: Message | Rejected) -> dict[str, str]:
    assert isinstance(result, Rejected), result
    return {v.field: v.description for v in result.violations}


def encode_with(message: Message, hostile: bytes) -> bytes:
    """The message's encoding with every MARK replaced by ``hostile`` (lengths adjusted: the mark is
    3 bytes of UTF-8, so ``hostile`` must be 3 bytes too)."""
    assert len(hostile) == 3
    data = message.SerializeToString()
    assert MARK.encode() in data
    return data.replace(MARK.encode(), hostile)


def test_every_method_has_a_known_request_type() -> None:
    for method in METHODS:
        name = request_type_of(method)
        assert name is not None, method
        descriptor_pool.Default().FindMessageTypeByName(name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200), method=st.sampled_from(METHODS))
def test_any_bytes_decode_to_a_message_or_a_rejection(data: bytes, method: str) -> None:
    name = request_type_of(method)
    assert name is not None
    result = deserializer_for(name)(data)
    assert isinstance(result, Message | Rejected)
    if isinstance(result, Rejected):
        assert result.violations and all(v.field and v.description for v in result.violations)


@pytest.mark.parametrize(("hostile", "description"), [
    (b"\xed\xa0\x80", SURROGATE),  # an encoded lone surrogate (U+D800)
    (b"\xff\xfe\xfd", NOT_UTF8),
    (b"a\x00b", HAS_NUL),
])
def test_bad_text_is_named_by_its_json_path_at_any_depth(hostile: bytes, description: str) -> None:
    request = ingestion_pb2.BatchIngestRequest(idempotency_key=MARK)
    request.interactions.add(customer_id="fine")
    second = request.interactions.add(customer_id=MARK, content=MARK)
    second.metadata.update({"tags": ["ok", MARK], "nested": {"deep": MARK}, "two words": MARK})
    found = violations(deserializer_for("insights.v1.BatchIngestRequest")(encode_with(request, hostile)))
    assert found == {
        "idempotencyKey": description,
        "interactions[1].customerId": description,
        "interactions[1].content": description,
        "interactions[1].metadata.tags[1]": description,
        "interactions[1].metadata.nested.deep": description,
        'interactions[1].metadata["two words"]': description,
    }


def test_path_parameters_and_repeated_query_fields_are_named() -> None:
    found = violations(deserializer_for("insights.v1.ExportCustomerRequest")(
        encode_with(privacy_pb2.ExportCustomerRequest(id=MARK), b"\xc3\x28\x41")))
    assert found == {"id": NOT_UTF8}
    found = violations(deserializer_for("insights.v1.SubscribeRequest")(
        encode_with(stream_pb2.SubscribeRequest(channels=["web", MARK], customer_id=MARK), b"x\x00y")))
    assert found == {"channels[1]": HAS_NUL, "customerId": HAS_NUL}


def test_struct_keys_with_nul_are_rejected() -> None:
    request = ingestion_pb2.IngestRequest()
    request.interaction.metadata.update({"a\x00b": 1})
    found = violations(deserializer_for("insights.v1.IngestRequest")(request.SerializeToString()))
    assert found == {"interaction.metadata (a key)": HAS_NUL}


def test_timestamps_outside_their_range_are_rejected() -> None:
    request = ingestion_pb2.BatchIngestRequest()
    request.interactions.add().timestamp.seconds = 10**15  # a converter would overflow
    request.interactions.add().timestamp.nanos = -1
    request.interactions.add().timestamp.seconds = 1_800_000_000
    found = violations(deserializer_for("insights.v1.BatchIngestRequest")(request.SerializeToString()))
    assert found == {"interactions[0].timestamp": BAD_TIMESTAMP, "interactions[1].timestamp": BAD_TIMESTAMP}


def test_good_requests_decode_unchanged() -> None:
    request = ingestion_pb2.BatchIngestRequest(idempotency_key="k-1")
    item = request.interactions.add(customer_id="c-1", channel="chat", content="Zo\u00eb\u2019s caf\u00e9 \U0001f389")
    item.timestamp.seconds = 1_800_000_000
    item.metadata.update({"n": 1.0, "empty": "", "no": False, "nothing": None, "list": []})
    data = request.SerializeToString()
    assert b"\x00" in data  # the slow path: a 0x00 byte that is no NUL character
    assert deserializer_for("insights.v1.BatchIngestRequest")(data) == request
    plain = analysis_pb2.AnalyzeSentimentRequest(text="fine")
    assert deserializer_for("insights.v1.AnalyzeSentimentRequest")(plain.SerializeToString()) == plain


def test_malformed_encodings_are_rejected_as_a_whole() -> None:
    found = violations(deserializer_for("insights.v1.LoginRequest")(b"\x0a\xff\xff\xff"))
    assert list(found) == ["request"] and "malformed" in found["request"]
    # A nested message whose bytes are broken: named where the encoding breaks.
    outer = common_pb2.InteractionInput(customer_id="c").SerializeToString() + b"\x32\x03\x0a\x05a"
    found = violations(deserializer_for("insights.v1.InteractionInput")(outer))
    assert found == {"metadata": "is not a valid google.protobuf.Struct message (malformed protobuf)"}


def test_guard_makes_any_deserializer_total() -> None:
    def explode(_: bytes) -> object:
        raise ValueError("no")

    assert isinstance(guard(explode)(b"x"), Rejected)
    assert guard(None)(b"x") == b"x"


def test_stream_items_are_named_by_position() -> None:
    ingest = "/insights.v1.IngestionService/IngestStream"
    assert _item_path(ingest, 7, "interaction.customerId") == "interactions[7].customerId"
    assert _item_path(ingest, 0, "request") == "interactions[0]"
    reflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    assert _item_path(reflection, 2, "fileByFilename") == "requests[2].fileByFilename"
