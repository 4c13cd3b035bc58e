"""Every RPC declared in the protos is built: the registered servicer of its service implements it (the
generated base class answers UNIMPLEMENTED). Checked on the classes, not by calling each method: public
authentication methods are rate-limited per address."""

from __future__ import annotations

import inspect

from google.protobuf import descriptor_pool

import insights.api.servicers as servicers_package
from insights.api.access import service_names
from insights.api.servicers.analysis import AnalysisServicer
from insights.api.servicers.auth import AuthServicer
from insights.api.servicers.ingestion import IngestionServicer
from insights.api.servicers.privacy import PrivacyServicer
from insights.api.servicers.query import QueryServicer
from insights.api.servicers.stream import StreamServicer
from insights.api.servicers.system import SystemServicer
from insights.v1 import (  # noqa: F401  (registers every service's descriptors)
    analysis_pb2,
    auth_pb2,
    ingestion_pb2,
    privacy_pb2,
    query_pb2,
    stream_pb2,
    system_pb2,
)

SERVICERS = [AnalysisServicer, AuthServicer, IngestionServicer, PrivacyServicer, QueryServicer, StreamServicer,
             SystemServicer]


def test_no_rpc_of_the_protos_is_left_unimplemented() -> None:
    by_service = {}
    for cls in SERVICERS:
        base = next(b for b in cls.__mro__[1:] if b.__name__.endswith("Servicer") and b.__module__.endswith("_grpc"))
        by_service[f"insights.v1.{base.__name__.removesuffix('Servicer')}"] = (cls, base)
    assert set(by_service) == set(service_names())
    unbuilt = set()
    pool = descriptor_pool.Default()
    for name, (cls, base) in by_service.items():
        for method in pool.FindServiceByName(name).methods:
            if getattr(cls, method.name) is getattr(base, method.name):
                unbuilt.add(f"{name}/{method.name}")
    assert unbuilt == set()
    assert inspect.ismodule(servicers_package)
