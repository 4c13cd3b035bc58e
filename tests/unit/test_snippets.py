"""The label mapping of the human-rated sentences that join the training tweets (insights_training.snippets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def snippets(training_module: Callable[[str], ModuleType]) -> ModuleType:
    return training_module("snippets")


@pytest.mark.parametrize(("mean_rating", "label"), [(-3.2, 0), (-0.51, 0), (-0.5, 1), (0.0, 1), (0.5, 1),
                                                    (0.51, 2), (2.7, 2)])
def test_a_mean_rating_maps_to_a_class(snippets: ModuleType, mean_rating: float, label: int) -> None:
    assert snippets.label_of(mean_rating) == label


@pytest.mark.parametrize(("mean_rating", "weight"), [(0.0, 1.0), (0.2, 1.0), (0.3, 0.5), (-0.6, 0.5), (0.74, 0.5),
                                                     (0.8, 1.0), (-2.0, 1.0)])
def test_a_rating_near_a_class_boundary_weighs_half(snippets: ModuleType, mean_rating: float, weight: float) -> None:
    assert snippets.weight_of(mean_rating) == weight


def test_held_out_texts_never_join_training(snippets: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    rated = snippets.RatedSentence
    corpora = {"tweets": [rated("a test tweet", 2.0), rated("new text", -1.0), rated("new text", 1.0)],
               "amazonReviewSnippets": [rated("a review sentence", 3.0)]}
    monkeypatch.setattr(snippets, "read_corpora", lambda dest: corpora)
    examples = snippets.training_examples(tmp_path, exclude={"a test tweet"})
    assert [(e.text, e.label) for e in examples] == [("new text", 0)], "held out, evaluation-only and repeats left out"
