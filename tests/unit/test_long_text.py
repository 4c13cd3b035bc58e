"""The window rule's plan of a call: each text's windows, the deadline sized by them, and the backend running
exactly the planned windows (no text cut a second time)."""

from __future__ import annotations

import pytest

from insights.inference import long_text
from insights.inference.long_text import WINDOW_CHARS, LongTextBackend, WindowPlan
from insights.inference.types import LABELS, Prediction
from insights.sentiment.analysis import deadline_s
from insights.settings import InferenceSettings

REVIEW = "The room was clean and quiet. " * 12 + "The staff were rude and the breakfast was cold!"


class Recording:
    """An inner backend that answers every row "positive" and records the calls it got."""

    name = "recording"
    model_version: str | None = "1"
    versions: tuple[str, ...] = ("1",)

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], float | None, bool, str | None]] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def predict(self, texts: list[str], *, timeout_s: float | None = None, background: bool = False,
                      version: str | None = None) -> list[Prediction]:
        self.calls.append((texts, timeout_s, background, version))
        scores = {label: 0.8 if label == "positive" else 0.1 for label in LABELS}
        return [Prediction("positive", scores, "sentiment", "1") for _ in texts]


def test_a_plan_holds_each_texts_windows_in_order() -> None:
    plan = WindowPlan.of(["  Great   flight! ", REVIEW])
    assert plan.texts == ("  Great   flight! ", REVIEW)
    assert plan.windows[0] == ("Great flight!",)
    assert len(plan.windows[1]) > 1 and all(len(w) <= WINDOW_CHARS for w in plan.windows[1])
    assert plan.window_count == 1 + len(plan.windows[1])


def test_the_deadline_of_a_planned_call_is_base_plus_per_text_plus_per_window() -> None:
    settings = InferenceSettings(timeout_s=2.0, timeout_per_text_s=0.1, timeout_per_window_s=0.01)
    plan = WindowPlan.of(["short", REVIEW])
    assert deadline_s(settings, plan) == pytest.approx(2.0 + 2 * 0.1 + plan.window_count * 0.01)


async def test_a_planned_call_runs_the_planned_windows_in_one_inner_call(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = WindowPlan.of(["short", REVIEW])

    def cut_again(text: str, limit: int = WINDOW_CHARS) -> list[str]:
        raise AssertionError("a planned text was cut again")

    monkeypatch.setattr(long_text, "split_windows", cut_again)
    inner = Recording()
    predictions = await LongTextBackend(inner).predict_plan(plan, timeout_s=3.5, background=True, version="1")
    assert inner.calls == [([w for per_text in plan.windows for w in per_text], 3.5, True, "1")]
    assert [p.label for p in predictions] == ["positive", "positive"]
    assert sum(predictions[1].scores.values()) == pytest.approx(1.0)


async def test_a_plan_without_long_texts_passes_the_texts_through_unchanged() -> None:
    inner = Recording()
    await LongTextBackend(inner).predict(["  Great   flight! ", "meh"])
    assert inner.calls == [(["  Great   flight! ", "meh"], None, False, None)]
