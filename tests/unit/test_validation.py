"""Validation of interaction events (ingestion/validation.py) and UpdateInteraction's update mask."""

from __future__ import annotations

import pytest

from insights.ingestion.validation import check_event_type


@pytest.mark.parametrize("value", ["page_view\n", "page_view\r\n", "a\n"])
def test_event_type_rejects_a_trailing_line_break(value: str) -> None:
    """A line break anywhere, the end included, would break logs and CSV exports (``$`` matches before a
    final newline, so the pattern must match the whole value)."""
    assert [v.field for v in check_event_type(value, "eventType")] == ["eventType"]
