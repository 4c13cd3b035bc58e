"""Enrichment (ingestion/enrich.py): segment, device and OS from user agents and hints, and geography
normalized from names, codes and locales; cached and uncached paths agree, and metadata is never changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insights.ingestion import enrich as enrich_module
from insights.ingestion.enrich import Enrichment, enrich, normalize_device, normalize_geo

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X710 Tablet) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15"
LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("metadata", "device"),
    [
        ({"userAgent": IPHONE}, {"type": "mobile", "os": "ios"}),
        ({"userAgent": IPAD}, {"type": "tablet", "os": "ios"}),
        ({"userAgent": ANDROID_PHONE}, {"type": "mobile", "os": "android"}),
        ({"userAgent": ANDROID_TABLET}, {"type": "tablet", "os": "android"}),
        ({"userAgent": WINDOWS}, {"type": "desktop", "os": "windows"}),
        ({"userAgent": MAC}, {"type": "desktop", "os": "macos"}),
        ({"userAgent": LINUX}, {"type": "desktop", "os": "linux"}),
        ({"userAgent": CURL}, {"type": "other", "os": "other"}),
        ({"user_agent": IPHONE}, {"type": "mobile", "os": "ios"}),  # snake_case spelling too
    ],
)
def test_device_and_os_from_user_agents(metadata: dict[str, Any], device: dict[str, str]) -> None:
    """Common browser user agents map to the device type and OS."""
    assert normalize_device(metadata) == device


@pytest.mark.parametrize(
    ("metadata", "device"),
    [
        ({"device": "mobile"}, {"type": "mobile", "os": "other"}),
        ({"device": "Desktop", "os": "Windows 11"}, {"type": "desktop", "os": "windows"}),
        ({"device": {"type": "tablet", "os": "iPadOS"}}, {"type": "tablet", "os": "ios"}),
        ({"device": {"type": "phone", "os": "Android 14"}}, {"type": "mobile", "os": "android"}),
        ({"platform": "macOS"}, {"type": "desktop", "os": "macos"}),
        ({"os": "Linux"}, {"type": "desktop", "os": "linux"}),
        ({"device": "smart-tv"}, {"type": "other", "os": "other"}),
        # "ios" only where it starts a word: a kiosk (or a BIOS version) is no Apple device
        ({"device": "kiosk"}, {"type": "other", "os": "other"}),
        ({"device": "Studio display", "os": "BIOS 2.1"}, {"type": "other", "os": "other"}),
        ({"platform": "iOS"}, {"type": "other", "os": "ios"}),
        ({"os": "iOS17"}, {"type": "other", "os": "ios"}),
    ],
)
def test_device_and_os_from_hints(metadata: dict[str, Any], device: dict[str, str]) -> None:
    """Explicit hints (device, os, platform) are classified like user agents."""
    assert normalize_device(metadata) == device


@pytest.mark.parametrize("metadata", [{}, {"device": ""}, {"device": "   "}, {"device": 42}, {"userAgent": None},
                                      {"device": {"model": "Pixel"}}])
def test_no_usable_device_hint_gives_no_device(metadata: dict[str, Any]) -> None:
    """Nothing to go on: no device (rather than a guess)."""
    assert normalize_device(metadata) is None


@pytest.mark.parametrize(
    ("metadata", "geo"),
    [
        ({"country": "United States"}, {"country": "US"}),
        ({"country": "usa"}, {"country": "US"}),
        ({"country": "UK"}, {"country": "GB"}),  # two letters, but no ISO code: the names table decides
        ({"country": "uk"}, {"country": "GB"}),
        ({"country": "Great Britain"}, {"country": "GB"}),
        ({"country": "  germany "}, {"country": "DE"}),
        ({"country": "de"}, {"country": "DE"}),
        ({"countryCode": "fr"}, {"country": "FR"}),
        ({"country_code": "JP"}, {"country": "JP"}),
        ({"country": "Atlantis"}, {"country": "Atlantis"}),  # unknown names are kept as given
        ({"locale": "en_GB"}, {"country": "GB"}),
        ({"locale": "pt-BR"}, {"country": "BR"}),
        ({"locale": "zh-Hant-TW"}, {"country": "TW"}),
        ({"locale": "de-DE", "country": "Austria"}, {"country": "Austria"}),  # the country wins over the locale
        ({"country": "Canada", "region": "Ontario", "city": "Toronto"},
         {"country": "CA", "region": "Ontario", "city": "Toronto"}),
        ({"geo": {"country": "Spain", "city": "Madrid"}, "country": "FR"}, {"country": "ES", "city": "Madrid"}),
        ({"location": {"countryCode": "it", "region": "Lazio"}}, {"country": "IT", "region": "Lazio"}),
    ],
)
def test_geography_from_names_codes_and_locales(metadata: dict[str, Any], geo: dict[str, str]) -> None:
    """Countries by name, code or locale become ISO codes; region and city are kept."""
    assert normalize_geo(metadata) == geo


@pytest.mark.parametrize("metadata", [{}, {"locale": "en"}, {"country": ""}, {"country": 49}, {"location": "Paris"}])
def test_no_usable_geography_gives_no_geo(metadata: dict[str, Any]) -> None:
    """No country, or a locale without a region: no geo."""
    assert normalize_geo(metadata) is None


@pytest.mark.parametrize(
    ("metadata", "segment"),
    [
        ({"segment": "enterprise"}, "enterprise"),
        ({"customerSegment": " smb "}, "smb"),
        ({"segment": "gold", "customerSegment": "silver"}, "gold"),
        ({"segment": "  "}, None),
        ({"segment": 3}, None),
        ({"segment": "s" * 150}, "s" * 100),  # cut to 100 characters
        ({}, None),
    ],
)
def test_segment(metadata: dict[str, Any], segment: str | None) -> None:
    """The segment comes from segment or customerSegment, trimmed and cut to 100 characters."""
    assert enrich(metadata).segment == segment


def test_enrichment_as_stored_under_enriched() -> None:
    """``_enriched`` holds compact JSON of what was derived, non-ASCII kept as is; nothing derived: {}."""
    value = enrich({"segment": "Großkunde", "userAgent": IPHONE, "country": "germany", "city": "Köln"})
    assert value.as_metadata() == {"segment": "Großkunde", "device": {"type": "mobile", "os": "ios"},
                                   "geo": {"country": "DE", "city": "Köln"}}
    assert value.as_json == (
        '{"segment":"Großkunde","device":{"type":"mobile","os":"ios"},"geo":{"country":"DE","city":"Köln"}}')
    assert json.loads(value.as_json) == value.as_metadata()
    assert Enrichment(None, None, None).as_json == "{}"
    assert enrich({"note": "nothing to derive"}).as_metadata() == {}


# --- cache behaviour and immutability -------------------------------------------------------------

INPUT_KEYS = ("segment", "customerSegment", "device", "os", "platform", "userAgent", "user_agent", "country",
              "countryCode", "country_code", "region", "city", "locale")
hint_values = st.one_of(
    st.sampled_from([IPHONE, IPAD, ANDROID_PHONE, WINDOWS, MAC, LINUX, CURL, "United Kingdom", "usa", "de", "en_GB",
                     "pt-BR", "gold", "mobile", "tablet", "Windows", "", "  "]),
    st.text(max_size=30),
)
string_metadata = st.dictionaries(st.sampled_from((*INPUT_KEYS, "other", "note")), hint_values, max_size=6)
any_metadata = st.dictionaries(
    st.sampled_from((*INPUT_KEYS, "geo", "location")),
    st.one_of(hint_values, st.integers(), st.none(), st.dictionaries(st.sampled_from(INPUT_KEYS), hint_values)),
    max_size=6,
)


@settings(max_examples=100)
@given(string_metadata)
def test_the_cached_path_gives_what_the_uncached_one_does(metadata: dict[str, Any]) -> None:
    """String-only metadata is enriched from a cache keyed by its values; the answer must be the same as
    computing it afresh (twice over: the second call is a cache hit)."""
    fresh = enrich_module._enrich(metadata)
    assert enrich(metadata) == fresh
    assert enrich(dict(metadata)) == fresh


@settings(max_examples=100)
@given(any_metadata)
def test_enrich_never_changes_the_metadata(metadata: dict[str, Any]) -> None:
    """The caller's metadata (stored as sent) is left exactly as it was."""
    before = copy.deepcopy(metadata)
    enrich(metadata)
    assert metadata == before


def test_metadata_with_nested_geography_bypasses_the_cache() -> None:
    """geo/location objects are not part of the cache key: two different places must not share an answer."""
    assert enrich({"geo": {"country": "France"}}).geo == {"country": "FR"}
    assert enrich({"geo": {"country": "Japan"}}).geo == {"country": "JP"}
    assert enrich({"device": {"type": "tablet"}}).device == {"type": "tablet", "os": "other"}
    assert enrich({"device": {"type": "desktop"}}).device == {"type": "desktop", "os": "other"}
