"""The label mapping and cleaning of the rated clothing reviews that may join training (insights_training.reviews)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def reviews(training_module: Callable[[str], ModuleType]) -> ModuleType:
    return training_module("reviews")


@pytest.mark.parametrize(("stars", "label", "weight"), [(1, 0, 1.0), (2, 0, 0.5), (3, 1, 1.0), (4, 2, 0.5),
                                                        (5, 2, 1.0)])
def test_stars_map_to_a_class_and_a_weight(reviews: ModuleType, stars: int, label: int, weight: float) -> None:
    [example] = reviews.examples_of([("Fits well.", stars)])
    assert (example.label, example.confidence) == (label, weight)


def test_unusable_repeated_and_disputed_reviews_are_left_out(reviews: ModuleType) -> None:
    rows = [(None, 5), ("   ", 4), ("No rating.", None), ("Out of range.", 0), ("Love it!", 5), ("Love   it!", 4),
            ("Too small, returned it.", 1), ("Too small, returned it.", 5), ("Runs large. Nice colour.", 3)]
    examples = reviews.examples_of(rows)
    assert [(e.text, e.label) for e in examples] == [("Love it!", 2), ("Runs large. Nice colour.", 1)]
