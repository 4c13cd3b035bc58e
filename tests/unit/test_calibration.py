"""Confidence calibration (inference/calibration.py): the error measure, the temperature fit, the published
file, and how a temperature enters the served scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from insights.inference.calibration import Calibration, expected_calibration_error, fit_temperature
from insights.inference.repository import ModelFiles
from insights.inference.types import LABELS, prediction_from_logits, softmax


def test_calibrated_confidences_have_no_error_and_overconfident_ones_their_gap() -> None:
    # Ten predictions at confidence 0.8, eight of them right: calibrated. Then the same at 0.95: a 0.15 gap.
    labels = np.array([0] * 8 + [1] * 2)
    calibrated = np.tile([0.8, 0.1, 0.1], (10, 1))
    assert expected_calibration_error(calibrated, labels) == pytest.approx(0.0)
    overconfident = np.tile([0.95, 0.03, 0.02], (10, 1))
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.15)


def test_the_fit_recovers_the_temperature_the_labels_were_drawn_with() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0.0, 3.0, size=(20_000, 3))
    probabilities = softmax((logits / 2.0).astype(np.float32))
    labels = np.array([rng.choice(3, p=p) for p in probabilities])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, abs=0.1)
    overconfident = softmax(logits.astype(np.float32))
    assert expected_calibration_error(probabilities, labels) < expected_calibration_error(overconfident, labels)


def test_a_temperature_changes_confidences_never_labels() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [-0.3, 0.1, 3.2]], dtype=np.float32)
    raw = prediction_from_logits(logits, model_version="3", truncated=[False, False])
    tempered = prediction_from_logits(logits, model_version="3", truncated=[False, False], temperature=2.0)
    for a, b, row in zip(raw, tempered, logits, strict=True):
        assert a.label == b.label
        assert b.confidence < a.confidence
        assert sum(b.scores.values()) == pytest.approx(1.0)
        # Log-odds between two labels are halved by T = 2.
        ratio = np.log(b.scores[LABELS[0]] / b.scores[LABELS[1]])
        assert ratio == pytest.approx((row[0] - row[1]) / 2.0, rel=1e-5)


def test_a_version_without_a_published_calibration_is_served_raw(tmp_path: Path) -> None:
    assert Calibration.read(tmp_path / "calibration.json").temperature == 1.0


@pytest.mark.parametrize("content", ['{"temperature": 0}', '{"temperature": -1}', '{"temperature": "hot"}',
                                     '{"temp": 1.2}', "not json", '{"temperature": NaN}'])
def test_a_malformed_calibration_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"calibration|temperature"):
        Calibration.read(path)


def test_recalibrating_a_version_changes_the_cache_fingerprint(tmp_path: Path) -> None:
    """Cached predictions carry the fingerprint: old confidences are never served under a new temperature."""
    files = ModelFiles(tmp_path / "sentiment")
    (files.directory / "3").mkdir(parents=True)
    (files.directory / "3" / "model.onnx").write_bytes(b"weights")
    before = files.fingerprint()
    (files.directory / "3" / "calibration.json").write_text(json.dumps({"temperature": 1.4}))
    assert files.fingerprint() != before
    assert files.calibration("3").temperature == 1.4


def test_a_published_fit_is_the_calibration_its_version_is_served_with(tmp_path: Path) -> None:
    """``insights model calibrate --write`` and the training package's calibrate step publish through one
    method: what it writes is what the server then reads for that version."""
    from insights.sentiment.comparison import CalibrationFit

    files = ModelFiles(tmp_path / "sentiment")
    (files.directory / "5").mkdir(parents=True)
    fit = CalibrationFit(version="5", temperature=1.33227, validation_texts=10, test_texts=12, test_ece_before=0.06,
                         test_ece_after=0.02, test_accuracy=0.8)
    assert fit.publish(files.directory) == files.directory / "5" / "calibration.json"
    assert files.calibration("5").temperature == 1.3323
    assert files.calibration("4").temperature == 1.0
