"""Enrichment (ingestion/enrich.py): segment, device and OS from user agents and hints, and geography
normalized from names, codes and locales; cached and uncached paths agree, and metadata is never changed."""

from __future__ import annotations

import pytest

from insights.ingestion.enrich import normalize_geo


@pytest.mark.parametrize("country", ["UK", "uk", "Uk"])
def test_uk_is_normalized_to_its_iso_code(country: str) -> None:
    """"UK" is two letters but no ISO 3166 code: the names table (uk -> GB) must be consulted first, or UK
    customers split between "UK" and "GB"."""
    assert normalize_geo({"country": country}) == {"country": "GB"}
