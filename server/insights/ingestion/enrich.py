"""Enrichment: segment, and device and geography normalized from metadata.

The original metadata is kept unchanged; what is derived goes under ``_enriched`` on the
interaction and onto the customer (segment column, last-known device and geo in its metadata).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

_COUNTRY_NAMES = {
    "united states": "US", "usa": "US", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "germany": "DE", "france": "FR", "spain": "ES", "italy": "IT", "canada": "CA", "mexico": "MX",
    "brazil": "BR", "india": "IN", "japan": "JP", "china": "CN", "australia": "AU", "netherlands": "NL",
    "ireland": "IE", "sweden": "SE", "switzerland": "CH", "poland": "PL", "portugal": "PT",
}

_IOS = re.compile(r"(?<![a-z])ios")
"""iOS where it starts a word ("ios 17", "ios17"), not inside one ("kiosk", "bios")."""


@dataclass(frozen=True)
class Enrichment:
    segment: str | None
    device: dict[str, str] | None
    geo: dict[str, str] | None

    @cached_property
    def as_json(self) -> str:
        """``as_metadata()`` serialized (cached: a cached enrichment is shared by many events)."""
        return json.dumps(self.as_metadata(), separators=(",", ":"), ensure_ascii=False)

    def as_metadata(self) -> dict[str, Any]:
        derived: dict[str, Any] = {}
        if self.segment:
            derived["segment"] = self.segment
        if self.device:
            derived["device"] = self.device
        if self.geo:
            derived["geo"] = self.geo
        return derived


def _text(value: Any, limit: int = 100) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def normalize_device(metadata: dict[str, Any]) -> dict[str, str] | None:
    raw = metadata.get("device")
    hints = " ".join(
        s.lower()
        for s in (
            _text(raw) if not isinstance(raw, dict) else _text(raw.get("type")),
            _text(raw.get("os")) if isinstance(raw, dict) else None,
            _text(metadata.get("os")),
            _text(metadata.get("platform")),
            _text(metadata.get("userAgent"), 500),
            _text(metadata.get("user_agent"), 500),
        )
        if s
    )
    return _classify_device(hints) if hints else None


@lru_cache(maxsize=4096)
def _classify_device(hints: str) -> dict[str, str]:
    """Cached: the same few devices and user agents recur across millions of events."""
    if "ipad" in hints or "tablet" in hints:
        kind = "tablet"
    elif any(w in hints for w in ("iphone", "android", "mobile", "phone")):
        kind = "mobile"
    elif any(w in hints for w in ("windows", "macintosh", "mac os", "macos", "linux", "desktop", "x11")):
        kind = "desktop"
    else:
        kind = "other"
    if "iphone" in hints or "ipad" in hints or _IOS.search(hints):
        os = "ios"
    elif "android" in hints:
        os = "android"
    elif "windows" in hints:
        os = "windows"
    elif any(w in hints for w in ("macintosh", "mac os", "macos")):
        os = "macos"
    elif "linux" in hints or "x11" in hints:
        os = "linux"
    else:
        os = "other"
    return {"type": kind, "os": os}


def normalize_geo(metadata: dict[str, Any]) -> dict[str, str] | None:
    source = next((metadata[k] for k in ("geo", "location") if isinstance(metadata.get(k), dict)), metadata)
    country = _text(source.get("country")) or _text(source.get("countryCode")) or _text(source.get("country_code"))
    locale = _text(metadata.get("locale"))
    if country is None and locale and ("-" in locale or "_" in locale):
        country = locale.replace("_", "-").split("-")[-1]
    geo: dict[str, str] = {}
    if country:
        # Names first: "UK" is two letters but not an ISO code (GB is).
        code = _COUNTRY_NAMES.get(country.lower())
        if code is None and len(country) == 2 and country.isalpha():
            code = country.upper()
        geo["country"] = code or country
    for key in ("region", "city"):
        value = _text(source.get(key))
        if value:
            geo[key] = value
    return geo or None


# Every metadata field enrichment reads. When they are all plain strings (the usual case), the result
# is cached by their values: the same devices, user agents and places recur across millions of events.
_INPUTS = ("segment", "customerSegment", "device", "os", "platform", "userAgent", "user_agent", "country",
           "countryCode", "country_code", "region", "city", "locale")


def enrich(metadata: dict[str, Any]) -> Enrichment:
    if "geo" not in metadata and "location" not in metadata:
        values = tuple(metadata.get(k) for k in _INPUTS)
        if all(v is None or isinstance(v, str) for v in values):
            return _enrich_cached(values)
    return _enrich(metadata)


@lru_cache(maxsize=8192)
def _enrich_cached(values: tuple[str | None, ...]) -> Enrichment:
    return _enrich({k: v for k, v in zip(_INPUTS, values, strict=True) if v is not None})


def _enrich(metadata: dict[str, Any]) -> Enrichment:
    segment = _text(metadata.get("segment")) or _text(metadata.get("customerSegment"))
    return Enrichment(segment=segment, device=normalize_device(metadata), geo=normalize_geo(metadata))
