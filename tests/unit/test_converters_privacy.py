"""PrivacyService conversions (api/converters/privacy.py): a customer's export and an erasure's counts."""

from __future__ import annotations

import uuid

from insights.api.converters.privacy import erasure, export
from insights.customers.privacy import CustomerExport, Erasure
from tests.unit.factories import make_customer, make_interaction


def test_export_holds_the_customer_and_everything_about_them() -> None:
    """The export carries the customer with all of their interactions and patterns."""
    customer = make_customer()
    message = export(CustomerExport(customer=customer, interactions=[make_interaction(), make_interaction()],
                                    patterns=[]))
    assert message.customer.id == str(customer.id)
    assert len(message.interactions) == 2 and list(message.patterns) == []


def test_erasure_counts() -> None:
    """What an erasure deleted is reported, count by count."""
    message = erasure(Erasure(customer_id=uuid.uuid4(), interactions_deleted=4, patterns_deleted=1, keys_deleted=2,
                              events_deleted=3, caches_purged=True))
    assert (message.interactions_deleted, message.patterns_deleted, message.events_deleted,
            message.caches_purged) == (4, 1, 3, True)
