"""Enrichment (ingestion/enrich.py): segment, device and OS from user agents and hints, and geography
normalized from names, codes and locales; cached and uncached paths agree, and metadata is never changed."""

from __future__ import annotations

from typing import Any

import pytest

from insights.ingestion.enrich import normalize_device


@pytest.mark.parametrize(
    ("metadata", "device"),
    [
        ({"device": "kiosk"}, {"type": "other", "os": "other"}),
        ({"device": "Studio display", "os": "BIOS 2.1"}, {"type": "other", "os": "other"}),
        ({"platform": "iOS"}, {"type": "other", "os": "ios"}),
        ({"os": "iOS17"}, {"type": "other", "os": "ios"}),
    ],
)
def test_ios_is_a_word_not_any_substring(metadata: dict[str, Any], device: dict[str, str]) -> None:
    """A kiosk (or a BIOS version) is no Apple device: "ios" counts only where it starts a word."""
    assert normalize_device(metadata) == device
