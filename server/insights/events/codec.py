"""Events as Redis stream entries: one field ``e`` holding compact JSON, and the Lua script that
appends a batch of entries in one round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from insights.events.types import Event, NewEvent

# KEYS[1]: the stream; ARGV: maxlen, ttl seconds, newline-separated entries. Returns how many.
APPEND_SCRIPT = """
local n = 0
for entry in string.gmatch(ARGV[3], "[^\\n]+") do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', entry)
  n = n + 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
"""


def encode(event: NewEvent, now_ms: int) -> str:
    """An entry's one field: compact JSON (never a raw newline, so a batch can be newline-joined).
    Assembled by hand: it runs once per ingested event, and json.dumps of a dict is three times slower."""
    parts = ['{"t":', _quote(event.type), ',"at":', str(now_ms)]
    if event.interaction_id:
        parts += [',"iid":', _quote(str(event.interaction_id))]
    if event.customer_id:
        parts += [',"cid":', _quote(str(event.customer_id))]
    if event.external_customer_id:
        parts += [',"xid":', _quote(event.external_customer_id)]
    if event.channel:
        parts += [',"ch":', _quote(event.channel)]
    payload = event.payload
    if payload and all(type(value) is str for value in payload.values()):
        # The common case (ingestion's eventType and timestamp): flat strings, quoted by the C encoder.
        parts += [',"p":{', ",".join(_quote(k) + ":" + _quote(v) for k, v in payload.items()), "}"]
    elif payload:
        parts += [',"p":', json.dumps(payload, separators=(",", ":"))]
    parts.append("}")
    return "".join(parts)


def decode(entry_id: str, fields: dict[str, str]) -> Event:
    """An entry back as an event; ValueError/TypeError/AttributeError when it is malformed."""
    body: Any = json.loads(fields.get("e") or "{}")
    return Event(
        id=entry_id,
        type=str(body.get("t", "")),
        occurred_at=datetime.fromtimestamp(int(body.get("at") or 0) / 1000, UTC),
        interaction_id=str(body.get("iid", "")),
        customer_id=str(body.get("cid", "")),
        external_customer_id=str(body.get("xid", "")),
        channel=str(body.get("ch", "")),
        payload=body.get("p") or {},
    )
