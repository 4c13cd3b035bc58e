"""Protobuf <-> domain for PrivacyService."""

from __future__ import annotations

from insights.api.converters.common import customer, interaction, pattern
from insights.customers.privacy import CustomerExport, Erasure
from insights.v1 import privacy_pb2


def export(value: CustomerExport) -> privacy_pb2.ExportCustomerResponse:
    return privacy_pb2.ExportCustomerResponse(
        customer=customer(value.customer),
        interactions=[interaction(i) for i in value.interactions],
        patterns=[pattern(p) for p in value.patterns],
    )


def erasure(value: Erasure) -> privacy_pb2.EraseCustomerResponse:
    return privacy_pb2.EraseCustomerResponse(
        interactions_deleted=value.interactions_deleted, patterns_deleted=value.patterns_deleted,
        events_deleted=value.events_deleted, caches_purged=value.caches_purged,
    )
